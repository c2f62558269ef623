/**
 * @module The wire side of the AWS stand-in: what a request of each AWS protocol looks like once
 * it arrives (which service and region signed it, which operation it names, its parameters) and
 * how answers and errors are written back so the real SDK v3 deserialisers read them as they
 * read AWS's own.
 *
 * - The service and region come from the SigV4 credential scope of the `Authorization` header
 *   (`Credential=<key>/<date>/<region>/<service>/aws4_request`), as every SDK client signs with
 *   them: one loopback endpoint serves every service and region.
 * - query protocol (RDS, ElastiCache, STS): a form-encoded POST body with `Action` and
 *   `Version`; answers are `<{Action}Response><{Action}Result>…` XML, errors `<ErrorResponse>`.
 *   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonParameters.html
 * - JSON 1.1 (ECS, SSM, Secrets Manager): the operation in `X-Amz-Target`, errors
 *   `{"__type": code, "message": …}`.
 * - REST-XML (Route 53, S3): the operation in the method and path, errors as XML.
 */
import type { IncomingMessage } from 'node:http';

/** An AWS error the stand-in answers with: the code the SDK turns into the error's `name`. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface SignedScope {
  readonly service: string;
  readonly region: string;
  readonly accessKeyId: string;
}

/** The scope the request was signed for; null when it is not SigV4-signed. */
export function signedScope(request: IncomingMessage): SignedScope | null {
  const header = request.headers.authorization ?? '';
  const match = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(header);
  if (match === null) return null;
  return { accessKeyId: match[1] ?? '', region: match[2] ?? '', service: match[3] ?? '' };
}

export async function readBody(request: IncomingMessage, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new AwsError('RequestEntityTooLarge', 'request body too large', 413);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---- query protocol --------------------------------------------------------------------------

/** Parameters of a query-protocol request, with helpers for its flattened lists. */
export class QueryParams {
  readonly #params: URLSearchParams;
  constructor(body: string) {
    this.#params = new URLSearchParams(body);
  }
  get(name: string): string | undefined {
    return this.#params.get(name) ?? undefined;
  }
  required(name: string): string {
    const value = this.get(name);
    if (value === undefined || value === '') throw new AwsError('MissingParameter', `The request must contain the parameter ${name}`);
    return value;
  }
  bool(name: string): boolean | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : value === 'true';
  }
  int(name: string): number | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : Number(value);
  }
  has(name: string): boolean {
    return this.#params.has(name);
  }
  /**
   * A flattened list `Name.Member.N` (or `Name.member.N`): scalars, or with `fields` the
   * structures `Name.Member.N.Field`.
   */
  list(name: string): string[] {
    const found: Array<[number, string]> = [];
    for (const [key, value] of this.#params) {
      const match = new RegExp(`^${name}\\.(?:[A-Za-z]+\\.)?(\\d+)$`).exec(key);
      if (match !== null) found.push([Number(match[1]), value]);
    }
    return found.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
  structures(name: string): Array<Record<string, string>> {
    const found = new Map<number, Record<string, string>>();
    for (const [key, value] of this.#params) {
      const match = new RegExp(`^${name}\\.(?:[A-Za-z]+\\.)?(\\d+)\\.([A-Za-z]+)$`).exec(key);
      if (match === null) continue;
      const index = Number(match[1]);
      const entry = found.get(index) ?? {};
      entry[match[2] ?? ''] = value;
      found.set(index, entry);
    }
    return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
}

// ---- XML -------------------------------------------------------------------------------------

/** A value `xml()` can write: text, a number or boolean, nested elements, or a list. */
export type XmlValue = string | number | boolean | undefined | null | XmlElement | XmlList;
export interface XmlElement {
  readonly [name: string]: XmlValue;
}
/** A list: each item is written as an element named `member`. */
export interface XmlList {
  readonly member: string;
  readonly items: readonly XmlValue[];
}

function isList(value: XmlValue): value is XmlList {
  return typeof value === 'object' && value !== null && 'items' in value && Array.isArray((value as XmlList).items);
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The children of one element; `undefined` and `null` fields are left out (absent in AWS's answers too). */
export function xml(element: XmlElement): string {
  let out = '';
  for (const [name, value] of Object.entries(element)) out += xmlField(name, value);
  return out;
}

function xmlField(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (isList(value)) return `<${name}>${value.items.map((item) => xmlField(value.member, item)).join('')}</${name}>`;
  if (typeof value === 'object') return `<${name}>${xml(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

export function list(member: string, items: readonly XmlValue[]): XmlList {
  return { member, items };
}

/** The text of the first `<name>` element of `body` (enough for the flat request bodies the drills send). */
export function xmlText(body: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(body);
  if (match === null) return undefined;
  return (match[1] ?? '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

/** Every `<name>…</name>` block of `body`. */
export function xmlBlocks(body: string, name: string): string[] {
  return [...body.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1] ?? '');
}

// ---- answers ---------------------------------------------------------------------------------

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function queryAnswer(action: string, namespace: string, result: XmlElement, requestId: string): Answer {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}"><${action}Result>${xml(result)}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

export function queryError(error: AwsError, requestId: string): Answer {
  return {
    status: error.status,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>${error.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

export function jsonAnswer(result: unknown): Answer {
  return { status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify(result) };
}

export function jsonError(error: AwsError, requestId: string): Answer {
  return {
    status: error.status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId, 'x-amzn-errortype': error.code },
    body: JSON.stringify({ __type: error.code, message: error.message }),
  };
}

export function restXmlAnswer(root: string, namespace: string | null, content: XmlElement, status = 200): Answer {
  const ns = namespace === null ? '' : ` xmlns="${namespace}"`;
  return { status, headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${xml(content)}</${root}>` };
}

/** Route 53 wraps errors in `<ErrorResponse>`, S3 does not (`<Error>` at the root). */
export function restXmlError(error: AwsError, requestId: string, wrapped: boolean): Answer {
  const inner = `<Error><Type>Sender</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error>`;
  const body = wrapped ? `<ErrorResponse>${inner}<RequestId>${requestId}</RequestId></ErrorResponse>` : `<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
  return { status: error.status, headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}` };
}
