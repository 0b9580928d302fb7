/**
 * A tiny JSX runtime that renders to a string (tsconfig: jsx "react", factory h): the pages
 * are typed TSX without a client build step. Every text child and attribute value is escaped;
 * only an `Html` (already rendered, or `raw`) passes through as is.
 */

/** Markup already rendered or trusted: the only thing the renderer does not escape. */
export class Html {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

export type Child = Html | string | number | boolean | null | undefined | readonly Child[];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Component<P = any> = (props: P) => Html;

/** Elements without a closing tag. */
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Trusted markup (a fixed string of ours): never pass input through this. */
export function raw(html: string): Html {
  return new Html(html);
}

function render(c: Child): string {
  if (c === null || c === undefined || c === false || c === true) return '';
  if (c instanceof Html) return c.html;
  if (Array.isArray(c)) return c.map(render).join('');
  return escapeHtml(String(c));
}

const ATTR_NAME = /^[a-zA-Z_:][-a-zA-Z0-9_:.]*$/;

function attributes(props: Record<string, unknown>): string {
  let out = '';
  for (const [name, value] of Object.entries(props)) {
    if (name === 'children' || value === null || value === undefined || value === false) continue;
    // names come from our templates, never from input; a bad one is a bug, not something to escape
    if (!ATTR_NAME.test(name)) throw new Error(`bad attribute name ${JSON.stringify(name)}`);
    out += value === true ? ` ${name}` : ` ${name}="${escapeHtml(String(value))}"`;
  }
  return out;
}

export function h(tag: string | Component, props: Record<string, unknown> | null, ...children: Child[]): Html {
  if (typeof tag === 'function') return tag({ ...(props ?? {}), children: children.length === 1 ? children[0] : children });
  const open = `<${tag}${attributes(props ?? {})}>`;
  if (VOID.has(tag)) return new Html(open);
  return new Html(`${open}${render(children)}</${tag}>`);
}

export function Fragment(props: { children?: Child }): Html {
  return new Html(render(props.children));
}

/** A whole page: the doctype and the rendered root. */
export function documentOf(root: Html): string {
  return `<!doctype html>\n${root.html}`;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace JSX {
    type Element = Html;
    interface ElementChildrenAttribute {
      children: unknown;
    }
    interface IntrinsicElements {
      [name: string]: Record<string, unknown>;
    }
  }
}
