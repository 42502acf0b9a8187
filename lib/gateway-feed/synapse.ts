import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { MediationStep } from './snapshot.ts';

/**
 * The Synapse subset the native gateway runs: `header` and `property` mediators that set (from a literal
 * value or one of a few expressions) or remove. Anything else is rejected here, at upload, with an error
 * naming it — a sequence is never half-run with parts silently ignored.
 */

export class SequenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SequenceError';
  }
}

/** An expression the gateway can evaluate, parsed from its Synapse spelling. */
export type MediationExpression =
  | { type: 'property'; name: 'api.ut.consumerKey' | 'api.ut.userName' }
  | { type: 'transportHeader'; name: string }
  | { type: 'literal'; value: string }
  /** WSO2's secure vault: the gateway resolves the alias from its own secret store, at request time. */
  | { type: 'vaultLookup'; alias: string };

const PROPERTIES = new Set(['api.ut.consumerKey', 'api.ut.userName']);
const GET_PROPERTY = /^get-property\(\s*(['"])([^'"]+)\1\s*\)$/;
const TRANSPORT_HEADER = /^\$trp:([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/;
const STRING_LITERAL = /^(['"])(.*)\1$/s;
/** `wso2:vault-lookup('<alias>')`; an alias is a file name in the secret store (a Kubernetes Secret key). */
const VAULT_LOOKUP = /^wso2:vault-lookup\(\s*(['"])([A-Za-z0-9][A-Za-z0-9._-]*)\1\s*\)$/;

export function parseMediationExpression(expression: string): MediationExpression {
  const text = expression.trim();
  const property = GET_PROPERTY.exec(text);
  if (property) {
    const name = property[2]!;
    if (!PROPERTIES.has(name)) {
      throw new SequenceError(
        `unsupported expression ${expression}: get-property supports only ${[...PROPERTIES].join(', ')}`,
      );
    }
    return { type: 'property', name: name as 'api.ut.consumerKey' | 'api.ut.userName' };
  }
  const vault = VAULT_LOOKUP.exec(text);
  if (vault) return { type: 'vaultLookup', alias: vault[2]! };
  const header = TRANSPORT_HEADER.exec(text);
  if (header) return { type: 'transportHeader', name: header[1]! };
  const literal = STRING_LITERAL.exec(text);
  if (literal && !literal[2]!.includes(literal[1]!)) return { type: 'literal', value: literal[2]! };
  throw new SequenceError(
    `unsupported expression ${expression}: only get-property('api.ut.consumerKey'), ` +
      `get-property('api.ut.userName'), $trp:<header>, wso2:vault-lookup('<alias>') and string literals are supported`,
  );
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
});

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const ATTRIBUTES: Record<MediationStep['kind'], Set<string>> = {
  header: new Set(['name', 'value', 'expression', 'scope', 'action']),
  property: new Set(['name', 'value', 'expression', 'scope', 'action', 'type']),
};

/**
 * Parses a `<sequence>` (or a bare list of mediators, as in a WSO2 policy definition file) into steps,
 * in document order. Throws `SequenceError` naming the first unsupported mediator, attribute or
 * expression.
 */
export function parseSynapseSequence(xml: string): MediationStep[] {
  // Entity declarations buy nothing here and open the door to entity-expansion attacks.
  if (/<!DOCTYPE/i.test(xml)) throw new SequenceError('unsupported DOCTYPE in the sequence');
  const body = xml.replace(/^\uFEFF?\s*<\?xml[^>]*\?>/, '');
  const wrapped = `<obkit-root>${body}</obkit-root>`;
  const valid = XMLValidator.validate(wrapped);
  if (valid !== true) throw new SequenceError(`the sequence is not well-formed XML: ${valid.err.msg}`);
  const root = parser.parse(wrapped) as OrderedNode[];
  let nodes = elements(childrenOf(root[0]!, 'obkit-root'));
  if (nodes.length === 1 && nameOf(nodes[0]!) === 'sequence') {
    const sequence = nodes[0]!;
    // An error handler would run mediators this gateway does not have.
    if ('onError' in (sequence[':@'] ?? {})) {
      throw new SequenceError('unsupported sequence attribute onError: fault handling is not supported');
    }
    nodes = elements(childrenOf(sequence, 'sequence'));
  }
  if (nodes.length === 0) throw new SequenceError('the sequence has no mediators');
  return nodes.map(toStep);
}

function toStep(node: OrderedNode): MediationStep {
  const kind = nameOf(node);
  if (kind !== 'header' && kind !== 'property') {
    throw new SequenceError(
      `unsupported mediator <${kind}>: only <header> and <property> mediators are supported`,
    );
  }
  if (elements(childrenOf(node, kind)).length > 0 || textOf(node, kind)) {
    throw new SequenceError(`unsupported inline content in <${kind}>: use value or expression`);
  }
  const attributes = node[':@'] ?? {};
  for (const attribute of Object.keys(attributes)) {
    if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) continue;
    if (!ATTRIBUTES[kind].has(attribute)) {
      throw new SequenceError(`unsupported attribute ${attribute} on <${kind}>`);
    }
  }
  const name = attributes.name;
  if (!name) throw new SequenceError(`<${kind}> needs a name`);
  const action = attributes.action ?? 'set';
  if (action !== 'set' && action !== 'remove') {
    throw new SequenceError(`unsupported action ${action} on <${kind} name="${name}">`);
  }
  const scope = attributes.scope ?? (kind === 'property' ? 'default' : undefined);
  if (kind === 'header' && scope !== 'transport') {
    throw new SequenceError(
      `unsupported scope ${scope ?? '(SOAP header)'} on <header name="${name}">: only scope="transport"`,
    );
  }
  if (scope !== 'transport' && scope !== 'default') {
    throw new SequenceError(`unsupported scope ${scope} on <property name="${name}">`);
  }
  if (attributes.type !== undefined && attributes.type !== 'STRING') {
    throw new SequenceError(`unsupported type ${attributes.type} on <property name="${name}">: only STRING`);
  }
  const { value, expression } = attributes;
  if (action === 'remove') {
    if (value !== undefined || expression !== undefined) {
      throw new SequenceError(`<${kind} name="${name}" action="remove"> takes neither value nor expression`);
    }
    return { kind, name, action, scope };
  }
  if ((value === undefined) === (expression === undefined)) {
    throw new SequenceError(`<${kind} name="${name}"> needs exactly one of value or expression`);
  }
  if (expression !== undefined) {
    parseMediationExpression(expression);
    return { kind, name, action, scope, expression };
  }
  return { kind, name, action, scope, value: value! };
}

function nameOf(node: OrderedNode): string {
  return Object.keys(node).find((key) => key !== ':@')!;
}

function childrenOf(node: OrderedNode, name: string): OrderedNode[] {
  return (node[name] as OrderedNode[] | undefined) ?? [];
}

/** Child elements, skipping comments and whitespace text. */
function elements(children: OrderedNode[]): OrderedNode[] {
  return children.filter((child) => {
    const name = nameOf(child);
    return name !== '#text' && name !== '#comment' && name !== '?xml';
  });
}

function textOf(node: OrderedNode, name: string): string {
  return childrenOf(node, name)
    .filter((child) => nameOf(child) === '#text')
    .map((child) => String(child['#text']).trim())
    .join('');
}
