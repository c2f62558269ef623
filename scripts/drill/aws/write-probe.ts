/**
 * @module The AWS provider's write probe: a file written, read back and deleted through a
 * region's own hostname over HTTPS, with an API key from Secrets Manager (read once).
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SECRET_NAMES, regionHostname } from '../../../infra/config/names.js';
import type { AwsContext } from './context.js';

/** probeWrite of the AWS provider. */
export class WriteProbe {
  readonly #ctx: AwsContext;
  #apiKey: Promise<string> | undefined;

  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
  }

  async probeWrite(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    this.#apiKey ??= (async () => {
      const secret = await this.#ctx.aws.call(`Secrets Manager GetSecretValue ${SECRET_NAMES.apiKeys}`, () =>
        this.#ctx.aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: SECRET_NAMES.apiKeys })),
      );
      const key = (secret.SecretString ?? '').split(',')[0]?.trim() ?? '';
      if (key === '') throw new Error(`secret ${SECRET_NAMES.apiKeys} is empty`);
      return key;
    })();
    this.#apiKey.catch(() => (this.#apiKey = undefined));
    const key = await this.#apiKey;
    const fetchFn = this.#ctx.options.fetch ?? fetch;
    const host = regionHostname(region, this.#ctx.options.dns.globalHostname);
    const url = `https://${host}/v1/files/drill-probes/${name}-${this.#ctx.aws.clock.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const body = `probe from ${name} at ${new Date(this.#ctx.aws.clock.now()).toISOString()}\n`;
    const auth = { authorization: `Bearer ${key}` };
    const timeout = (): AbortSignal => AbortSignal.timeout(this.#ctx.aws.timeouts.requestMs);
    const started = this.#ctx.aws.clock.now();
    const created = await fetchFn(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body, signal: timeout() });
    if (created.status !== 201 && created.status !== 200) throw new Error(`write through ${host} answered ${created.status}: ${(await created.text()).slice(0, 200)}`);
    await created.arrayBuffer();
    const read = await fetchFn(url, { headers: auth, signal: timeout() });
    const text = await read.text();
    if (read.status !== 200 || text !== body) throw new Error(`read-back through ${host} answered ${read.status} with ${text.length} characters`);
    await fetchFn(url, { method: 'DELETE', headers: auth, signal: timeout() }).then((r) => r.arrayBuffer()).catch(() => null);
    return `${name}: write + read-back ok via ${created.headers.get('x-callfs-served-by') ?? '?'} in ${this.#ctx.aws.clock.now() - started} ms`;
  }
}
