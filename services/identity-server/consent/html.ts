/**
 * Plain, accessible HTML for the sandbox consent pages and the authorisation endpoint's errors: one
 * landmark, labelled controls, a visible focus, no script. Every interpolated value goes through
 * `escapeHtml` (the `html` tag does it).
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (character) => ESCAPES[character]!);
}

/** Markup already escaped (produced by `html`), kept as is when interpolated. */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

/** A template tag escaping every interpolated value except `SafeHtml` and arrays of it. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    out += parts.map((part) => (part instanceof SafeHtml ? part.value : escapeHtml(part ?? ''))).join('');
    out += strings[index + 1]!;
  });
  return new SafeHtml(out);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1a1a1a; }
  fieldset { border: 1px solid #767676; padding: 0.5rem 1rem 1rem; margin: 1rem 0; }
  label { display: block; margin: 0.4rem 0; }
  input[type=text] { font-size: 1.1rem; padding: 0.3rem; }
  button { font-size: 1rem; padding: 0.5rem 1.2rem; margin-right: 0.5rem; }
  :focus-visible { outline: 3px solid #0050b3; outline-offset: 2px; }
  .code { font-family: monospace; font-size: 1.4rem; letter-spacing: 0.2rem; }
  .error { color: #a4001d; }
`;

/** A whole page: language, title, one main landmark with the page's heading. */
export function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en-AU">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — obkit sandbox</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.value;
}

/** An error a person sees in the browser (the request cannot be sent back to the recipient). */
export function errorPage(error: string, description: string): string {
  return page(
    'This request cannot continue',
    html`<p role="alert" class="error"><strong>${error}</strong>: ${description}</p>
<p>Return to the application that sent you here and start again.</p>`,
  );
}
