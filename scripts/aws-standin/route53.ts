/**
 * @module Route 53 in the stand-in: the hosted zone's records (a latency record per region on the
 * global hostname, each with a health check, and each region's own hostname), health checks whose
 * status follows the region's state with the documented lag, TestDNSAnswer answering as the
 * latency routing would, and the per-account API rate limit.
 *
 * Operations: ListResourceRecordSets, GetHealthCheck, UpdateHealthCheck, GetHealthCheckStatus,
 * TestDNSAnswer.
 */
import { AwsError, list, xmlText, type XmlElement } from './protocol.js';
import { TokenBucket, type StandinClock } from './clock.js';

export const ROUTE53_NAMESPACE = 'https://route53.amazonaws.com/doc/2013-04-01/';

/**
 * "All Amazon Route 53 API operations combined (account level)": a bucket of 50 requests refilled
 * at 10 per second; a throttled request gets HTTP 400 with Code `Throttling` and Message `Rate
 * exceeded` (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html).
 */
export const ROUTE53_RATE = { capacity: 50, perSecond: 10 };

/** Checker locations reporting on each health check (Route 53 uses several regions' checkers). */
const CHECKER_REGIONS = ['us-east-1', 'us-west-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'sa-east-1'];

export interface HealthCheck {
  readonly id: string;
  readonly region: string;
  readonly fqdn: string;
  resourcePath: string;
  inverted: boolean;
  disabled: boolean;
  readonly requestIntervalSeconds: number;
  readonly failureThreshold: number;
  version: number;
  /** The status Route 53 uses for DNS answers, and since when the probes disagree with it. */
  healthy: boolean;
  disagreeingSince: number | undefined;
}

export interface ZoneRegion {
  readonly name: string;
  readonly awsRegion: string;
  readonly cidr: string;
  readonly healthCheckPath: string;
  /** The load balancer's addresses (answers for the region's hostname). */
  readonly addresses: readonly string[];
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return ((ipToNumber(ip) & mask) >>> 0) === ((ipToNumber(base) & mask) >>> 0);
}

export class Route53Service {
  readonly healthChecks: HealthCheck[] = [];
  readonly #bucket: TokenBucket;
  /** Every call, for the tests' rate checks. */
  readonly calls: Array<{ at: number; operation: string }> = [];

  constructor(
    private readonly clock: StandinClock,
    readonly hostedZoneId: string,
    readonly globalHostname: string,
    private readonly regions: readonly ZoneRegion[],
    /** Whether a probe of `path` on `region`'s hostname succeeds right now (nodes ready behind the load balancer). */
    private readonly probe: (region: string, path: string) => boolean,
    rate = ROUTE53_RATE,
  ) {
    this.#bucket = new TokenBucket(rate.capacity, rate.perSecond);
    regions.forEach((r, i) => {
      this.healthChecks.push({
        id: `hc-${String(i + 1).padStart(4, '0')}-${r.name}`,
        region: r.name,
        fqdn: `${r.name}.${globalHostname}`,
        resourcePath: r.healthCheckPath,
        inverted: false,
        disabled: false,
        requestIntervalSeconds: 30,
        failureThreshold: 3,
        version: 1,
        healthy: true,
        disagreeingSince: undefined,
      });
    });
  }

  /** What the checkers see: the probe's result, inverted when the check is. */
  #probeResult(check: HealthCheck): boolean {
    const raw = this.probe(check.region, check.resourcePath);
    return check.inverted ? !raw : raw;
  }

  /**
   * Moves the status Route 53 answers with toward what the checkers see: it changes only after
   * `failureThreshold` consecutive checks of `requestInterval` seconds agree ("The number of
   * consecutive health checks that an endpoint must pass or fail for Route 53 to change the current
   * status of the endpoint", https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html;
   * healthy when more than 18 % of checkers say so,
   * https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
   */
  #settle(check: HealthCheck): void {
    if (check.disabled) {
      // "Route 53 considers the status of a disabled health check to be healthy" (API_HealthCheckConfig, Disabled).
      check.healthy = true;
      check.disagreeingSince = undefined;
      return;
    }
    const seen = this.#probeResult(check);
    if (seen === check.healthy) {
      check.disagreeingSince = undefined;
      return;
    }
    const now = this.clock.now();
    check.disagreeingSince ??= now;
    if (now - check.disagreeingSince >= this.clock.of(check.failureThreshold * check.requestIntervalSeconds)) {
      check.healthy = seen;
      check.disagreeingSince = undefined;
    }
  }

  /** Keeps the statuses moving between calls (the checkers probe whether anyone asks or not). */
  tick(): void {
    for (const check of this.healthChecks) this.#settle(check);
  }

  #check(id: string): HealthCheck {
    const check = this.healthChecks.find((c) => c.id === id);
    if (check === undefined) throw new AwsError('NoSuchHealthCheck', `A health check with id ${id} does not exist.`, 404);
    return check;
  }

  #config(check: HealthCheck): XmlElement {
    return {
      Id: check.id,
      CallerReference: `geo-callfs-${check.region}`,
      HealthCheckConfig: {
        Port: 443,
        Type: 'HTTPS',
        ResourcePath: check.resourcePath,
        FullyQualifiedDomainName: check.fqdn,
        RequestInterval: check.requestIntervalSeconds,
        FailureThreshold: check.failureThreshold,
        MeasureLatency: false,
        Inverted: check.inverted,
        Disabled: check.disabled,
        EnableSNI: true,
      },
      HealthCheckVersion: check.version,
    };
  }

  /** The regions answering the global hostname for a client at `clientIp`. */
  answerFor(clientIp: string | undefined): ZoneRegion | undefined {
    this.tick();
    const home = clientIp === undefined ? undefined : this.regions.find((r) => inCidr(clientIp, r.cidr));
    // Latency routing answers with the lowest-latency healthy record; the stand-in takes a
    // client's own region as its lowest latency, then the regions in their configured order.
    const order = home === undefined ? [...this.regions] : [home, ...this.regions.filter((r) => r !== home)];
    const healthy = order.filter((r) => this.healthChecks.find((c) => c.region === r.name)?.healthy !== false);
    // "If all the records ... are unhealthy, Route 53 considers all of them healthy and responds
    // to queries as if they were"
    // (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-complex-configs.html).
    return healthy[0] ?? order[0];
  }

  handle(method: string, path: string, query: URLSearchParams, body: string): { root: string; content: XmlElement } {
    const operation = this.#operation(method, path);
    this.calls.push({ at: this.clock.now(), operation });
    if (!this.#bucket.take()) throw new AwsError('Throttling', 'Rate exceeded');
    this.tick();
    const healthCheckId = /^\/2013-04-01\/healthcheck\/([^/]+)/.exec(path)?.[1];
    switch (operation) {
      case 'ListResourceRecordSets': {
        const zone = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset/.exec(path)?.[1];
        if (zone !== this.hostedZoneId) throw new AwsError('NoSuchHostedZone', `No hosted zone found with ID: ${zone ?? ''}`, 404);
        const global = `${this.globalHostname}.`;
        const records: XmlElement[] = [
          ...this.regions.map((r) => ({
            Name: global,
            Type: 'A',
            SetIdentifier: r.name,
            Region: r.awsRegion,
            AliasTarget: { HostedZoneId: 'Z0STANDINLB', DNSName: `lb-${r.name}.${r.awsRegion}.elb.amazonaws.com.`, EvaluateTargetHealth: true },
            HealthCheckId: this.healthChecks.find((c) => c.region === r.name)?.id,
          })),
          ...this.regions.map((r) => ({ Name: `${r.name}.${this.globalHostname}.`, Type: 'A', AliasTarget: { HostedZoneId: 'Z0STANDINLB', DNSName: `lb-${r.name}.${r.awsRegion}.elb.amazonaws.com.`, EvaluateTargetHealth: false } })),
        ];
        const start = query.get('name');
        const from = start === null ? 0 : records.findIndex((r) => r['Name'] === (start.endsWith('.') ? start : `${start}.`));
        return { root: 'ListResourceRecordSetsResponse', content: { ResourceRecordSets: list('ResourceRecordSet', records.slice(Math.max(0, from))), IsTruncated: false, MaxItems: '300' } };
      }
      case 'GetHealthCheck':
        return { root: 'GetHealthCheckResponse', content: { HealthCheck: this.#config(this.#check(healthCheckId ?? '')) } };
      case 'UpdateHealthCheck': {
        const check = this.#check(healthCheckId ?? '');
        const path = xmlText(body, 'ResourcePath');
        const inverted = xmlText(body, 'Inverted');
        const disabled = xmlText(body, 'Disabled');
        if (path !== undefined) check.resourcePath = path;
        if (inverted !== undefined) check.inverted = inverted === 'true';
        if (disabled !== undefined) check.disabled = disabled === 'true';
        check.version += 1;
        this.#settle(check);
        return { root: 'UpdateHealthCheckResponse', content: { HealthCheck: this.#config(check) } };
      }
      case 'GetHealthCheckStatus': {
        const check = this.#check(healthCheckId ?? '');
        // Observations are the checkers' last raw probe results (inversion is not applied to them).
        const raw = this.probe(check.region, check.resourcePath);
        const at = new Date(this.clock.now()).toISOString();
        return {
          root: 'GetHealthCheckStatusResponse',
          content: {
            HealthCheckObservations: list(
              'HealthCheckObservation',
              CHECKER_REGIONS.map((region, i) => ({
                Region: region,
                IPAddress: `15.177.${i}.10`,
                StatusReport: { Status: raw ? 'Success: HTTP Status Code 200, OK' : 'Failure: HTTP Status Code 503, Service Unavailable', CheckedTime: at },
              })),
            ),
          },
        };
      }
      case 'TestDNSAnswer': {
        const zone = query.get('hostedzoneid');
        if (zone !== this.hostedZoneId) throw new AwsError('NoSuchHostedZone', `No hosted zone found with ID: ${zone ?? ''}`, 404);
        const name = (query.get('recordname') ?? '').replace(/\.$/, '');
        const type = query.get('recordtype') ?? 'A';
        let answer: readonly string[] = [];
        if (type === 'A' && name === this.globalHostname) answer = this.answerFor(query.get('edns0clientsubnetip') ?? query.get('resolverip') ?? undefined)?.addresses ?? [];
        else if (type === 'A') answer = this.regions.find((r) => `${r.name}.${this.globalHostname}` === name)?.addresses ?? [];
        return {
          root: 'TestDNSAnswerResponse',
          content: { Nameserver: 'ns-1.awsdns-00.com', RecordName: `${name}.`, RecordType: type, RecordData: list('RecordDataEntry', [...answer]), ResponseCode: answer.length > 0 ? 'NOERROR' : 'NXDOMAIN', Protocol: 'UDP' },
        };
      }
      default:
        throw new AwsError('InvalidAction', `Route 53 ${method} ${path} is not implemented by the stand-in`);
    }
  }

  #operation(method: string, path: string): string {
    if (method === 'GET' && /^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/.test(path)) return 'ListResourceRecordSets';
    if (method === 'GET' && /^\/2013-04-01\/healthcheck\/[^/]+\/status$/.test(path)) return 'GetHealthCheckStatus';
    if (method === 'GET' && /^\/2013-04-01\/healthcheck\/[^/]+$/.test(path)) return 'GetHealthCheck';
    if (method === 'POST' && /^\/2013-04-01\/healthcheck\/[^/]+$/.test(path)) return 'UpdateHealthCheck';
    if (method === 'GET' && path === '/2013-04-01/testdnsanswer') return 'TestDNSAnswer';
    return `${method} ${path}`;
  }
}
