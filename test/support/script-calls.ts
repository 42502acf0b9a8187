import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import ts from 'typescript';
import * as managementApi from '../../lib/wso2/management-api.ts';

/**
 * Every HTTP call written in scripts/, found in the source (TypeScript's own parser): a call of
 * `request`, `call` or `#call` whose first argument is an HTTP method. Calls made by the management API
 * classes (ManagementSession, PublisherApi, AdminApi) get their class's base path, so each one names a
 * WSO2 management operation; the others (identity server, gateway, obkit's health) are reported apart.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD']);
const MANAGEMENT_CLASSES = new Set(['ManagementSession', 'PublisherApi', 'AdminApi']);

export interface ScriptCall {
  /** `scripts/lib/api-client/publisher.ts:72`. */
  site: string;
  method: string;
  /** The path as written, expressions as `{}` (`/apis/{}/revisions`); `<expression>` when not a literal. */
  path: string;
  /** The class making the call (`PublisherApi`), or the file's function. */
  caller: string;
  management: boolean;
}

export async function scriptCalls(dir = join(ROOT, 'scripts')): Promise<ScriptCall[]> {
  const calls: ScriptCall[] = [];
  for (const file of await typescriptFiles(dir)) {
    const source = ts.createSourceFile(file, await readFile(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      const call = httpCall(node, source);
      if (call) calls.push({ ...call, site: `${relative(ROOT, file)}:${call.line}` });
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return calls;
}

function httpCall(
  node: ts.Node,
  source: ts.SourceFile,
): (Omit<ScriptCall, 'site'> & { line: number }) | undefined {
  if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return undefined;
  const name = node.expression.name.getText(source);
  const [method, path] = node.arguments;
  if (!['request', 'call', '#call'].includes(name) || !method || !ts.isStringLiteral(method))
    return undefined;
  if (!METHODS.has(method.text) || !path) return undefined;
  const owner = enclosingClass(node);
  const management = Boolean(owner && MANAGEMENT_CLASSES.has(owner.name!.text));
  const base = owner && name === '#call' ? classBase(owner, source) : '';
  return {
    line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1,
    method: method.text,
    path: `${base}${pathText(path, source)}`,
    caller: owner?.name?.text ?? enclosingFunction(node, source),
    management,
  };
}

/** A literal path, with `${…}` as `{}`; anything else as `<its text>`. */
function pathText(node: ts.Expression, source: ts.SourceFile): string {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node))
    return node.head.text + node.templateSpans.map((span) => `{}${span.literal.text}`).join('');
  return `<${node.getText(source)}>`;
}

/** `static readonly base = PUBLISHER_API` resolved through lib/wso2/management-api.ts. */
function classBase(owner: ts.ClassDeclaration, source: ts.SourceFile): string {
  for (const member of owner.members) {
    if (!ts.isPropertyDeclaration(member) || member.name.getText(source) !== 'base' || !member.initializer)
      continue;
    const value = (managementApi as Record<string, unknown>)[member.initializer.getText(source)];
    if (typeof value === 'string') return value;
  }
  return '';
}

function enclosingClass(node: ts.Node): ts.ClassDeclaration | undefined {
  for (let at: ts.Node | undefined = node.parent; at; at = at.parent)
    if (ts.isClassDeclaration(at)) return at;
  return undefined;
}

/** The top-level function or constant the call is written in. */
function enclosingFunction(node: ts.Node, source: ts.SourceFile): string {
  let top: ts.Node = node;
  while (top.parent && top.parent !== source) top = top.parent;
  if (ts.isFunctionDeclaration(top) && top.name) return top.name.text;
  if (ts.isVariableStatement(top)) return top.declarationList.declarations[0]!.name.getText(source);
  return relative(ROOT, source.fileName);
}

async function typescriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}
