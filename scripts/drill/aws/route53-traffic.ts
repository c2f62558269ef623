/**
 * @module The AWS provider's traffic operations, on Route 53: a region withdrawn from (or
 * restored to) the global name through the health check of its latency record, and the regions
 * the name answers a region's clients with. Every Route 53 call passes one gate that keeps the
 * drill inside the account's shared request rate.
 */
import { GetHealthCheckCommand, GetHealthCheckStatusCommand, ListResourceRecordSetsCommand, TestDNSAnswerCommand, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { type Region } from '../../../regions/schema.js';
import { regionHostname } from '../../../infra/config/names.js';
import type { AwsContext } from './context.js';
import { DEFAULT_ROUTE53_RATE, WITHDRAWN_PATH } from './options.js';

/** withdrawRegion, restoreRegion and answeringRegions of the AWS provider. */
export class Route53Traffic {
  readonly #ctx: AwsContext;
  #route53Turn: Promise<void> = Promise.resolve();
  #route53Last = 0;
  readonly #regionAnswers = new Map<string, { at: number; addresses: string[] }>();
  #warnedNoSubnets = false;
  #healthChecks: Promise<ReadonlyMap<string, string>> | undefined;

  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
  }

  /** Health check id of each region's latency record, read once from the hosted zone. */
  #healthCheckIds(): Promise<ReadonlyMap<string, string>> {
    this.#healthChecks ??= (async () => {
      const name = `${this.#ctx.options.dns.globalHostname}.`;
      const ids = new Map<string, string>();
      let start: { StartRecordName?: string; StartRecordType?: 'A'; StartRecordIdentifier?: string } = { StartRecordName: name, StartRecordType: 'A' };
      for (;;) {
        const out = await this.#route53Call(`Route 53 ListResourceRecordSets ${name}`, () => this.#ctx.aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: this.#ctx.options.dns.hostedZoneId, ...start })));
        const sets = out.ResourceRecordSets ?? [];
        for (const set of sets) {
          if (set.Name === name && set.Type === 'A' && set.SetIdentifier !== undefined && set.HealthCheckId !== undefined) ids.set(set.SetIdentifier, set.HealthCheckId);
        }
        const last = sets[sets.length - 1];
        if (out.IsTruncated !== true || last?.Name !== name || out.NextRecordName !== name) break;
        start = { StartRecordName: out.NextRecordName, StartRecordType: 'A', StartRecordIdentifier: out.NextRecordIdentifier };
      }
      return ids;
    })();
    this.#healthChecks.catch(() => (this.#healthChecks = undefined));
    return this.#healthChecks;
  }

  async #healthCheckId(region: Region): Promise<string | undefined> {
    return (await this.#healthCheckIds()).get(region.name);
  }

  async withdrawRegion(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    const id = await this.#healthCheckId(region);
    if (id === undefined) return `${name}: no latency record for ${this.#ctx.options.dns.globalHostname} (dnsWeight 0?): not in the answers`;
    const byPath = this.#ctx.options.withdrawBy === 'resource-path';
    await this.#route53Call(`Route 53 UpdateHealthCheck ${id}`, () => this.#ctx.aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: WITHDRAWN_PATH, Inverted: false } : { HealthCheckId: id, Inverted: true })));
    return byPath
      ? `${name}: health check ${id} now probes ${WITHDRAWN_PATH}: out of the answers for ${this.#ctx.options.dns.globalHostname} until restored`
      : `${name}: health check ${id} inverted: out of the answers for ${this.#ctx.options.dns.globalHostname} until restored`;
  }

  async restoreRegion(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    const id = await this.#healthCheckId(region);
    if (id === undefined) return `${name}: no latency record for ${this.#ctx.options.dns.globalHostname} (dnsWeight 0?): nothing to restore`;
    const byPath = this.#ctx.options.withdrawBy === 'resource-path';
    await this.#route53Call(`Route 53 UpdateHealthCheck ${id}`, () => this.#ctx.aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: region.healthCheckPath, Inverted: false } : { HealthCheckId: id, Inverted: false })));
    return `${name}: health check ${id} restored (${region.healthCheckPath}, not inverted): back in the answers once healthy`;
  }

  /**
   * Every Route 53 call goes through one gate that spaces them `1 / route53RequestsPerSecond`
   * apart: Route 53 throttles per account (all callers together, the console included), and a
   * drill polling answers for every region must stay well inside that rate.
   */
  async #route53Call<O>(label: string, send: () => Promise<O>): Promise<O> {
    const spacing = 1000 / (this.#ctx.options.route53RequestsPerSecond ?? DEFAULT_ROUTE53_RATE);
    const turn = this.#route53Turn.then(async () => {
      const wait = this.#route53Last + spacing - this.#ctx.aws.clock.now();
      if (wait > 0) await this.#ctx.aws.clock.sleep(wait);
      this.#route53Last = this.#ctx.aws.clock.now();
    });
    this.#route53Turn = turn.catch(() => undefined);
    await turn;
    return this.#ctx.aws.call(label, send);
  }

  /**
   * The regions whose addresses the global hostname answers to a client of `fromRegion`, from
   * Route 53's own answer (TestDNSAnswer with that region's client subnet, latency routing and
   * health applied) compared with each region hostname's answer (cached for a minute: load
   * balancer addresses change rarely). Without a client subnet for the region, the health checks'
   * status is used instead, which says what the checkers see, not what clients are answered.
   */
  async answeringRegions(fromRegion: string): Promise<string[]> {
    this.#ctx.region(fromRegion);
    const subnet = this.#ctx.options.clientSubnets?.[fromRegion];
    const ids = await this.#healthCheckIds();
    const listed = this.#ctx.regions.filter((r) => ids.has(r.name));
    if (subnet !== undefined) {
      const answer = async (recordName: string): Promise<string[]> => {
        const out = await this.#route53Call(`Route 53 TestDNSAnswer ${recordName}`, () => this.#ctx.aws.route53().send(new TestDNSAnswerCommand({ HostedZoneId: this.#ctx.options.dns.hostedZoneId, RecordName: recordName, RecordType: 'A', ...clientSubnet(subnet) })));
        return out.ResponseCode === 'NOERROR' ? (out.RecordData ?? []) : [];
      };
      const global = new Set(await answer(this.#ctx.options.dns.globalHostname));
      const answering: string[] = [];
      for (const region of listed) {
        const name = regionHostname(region, this.#ctx.options.dns.globalHostname);
        const cached = this.#regionAnswers.get(name);
        let own = cached !== undefined && this.#ctx.aws.clock.now() - cached.at < 60_000 ? cached.addresses : undefined;
        if (own === undefined) {
          own = await answer(name);
          this.#regionAnswers.set(name, { at: this.#ctx.aws.clock.now(), addresses: own });
        }
        if (own.some((ip) => global.has(ip))) answering.push(region.name);
      }
      return answering;
    }
    if (!this.#warnedNoSubnets) {
      this.#warnedNoSubnets = true;
      this.#ctx.log(`answering regions: no client subnet for ${fromRegion} (--client-subnet ${fromRegion}=<public ip>/24): judging from health check status, which is not what clients are answered`);
    }
    const answering: string[] = [];
    for (const region of listed) {
      const id = ids.get(region.name) ?? '';
      const config = await this.#route53Call(`Route 53 GetHealthCheck ${id}`, () => this.#ctx.aws.route53().send(new GetHealthCheckCommand({ HealthCheckId: id })));
      const status = await this.#route53Call(`Route 53 GetHealthCheckStatus ${id}`, () => this.#ctx.aws.route53().send(new GetHealthCheckStatusCommand({ HealthCheckId: id })));
      const observations = status.HealthCheckObservations ?? [];
      const succeeding = observations.filter((o) => o.StatusReport?.Status?.startsWith('Success') === true).length;
      // Checker observations are raw probe results; Route 53 calls the endpoint healthy above 18 %, then applies inversion.
      const raw = observations.length > 0 && succeeding / observations.length > 0.18;
      const healthCheckConfig = config.HealthCheck?.HealthCheckConfig;
      const healthy = healthCheckConfig?.Disabled === true ? true : healthCheckConfig?.Inverted === true ? !raw : raw;
      if (healthy) answering.push(region.name);
    }
    return answering;
  }
}

/** `a.b.c.d` or `a.b.c.d/24` → TestDNSAnswer's client subnet fields. */
function clientSubnet(value: string): { EDNS0ClientSubnetIP: string; EDNS0ClientSubnetMask?: string } {
  const [ip = value, mask] = value.split('/');
  return mask === undefined ? { EDNS0ClientSubnetIP: ip } : { EDNS0ClientSubnetIP: ip, EDNS0ClientSubnetMask: mask };
}
