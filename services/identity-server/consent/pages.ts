import type { SandboxCustomer } from '../../../lib/cdr/sandbox-customers.ts';
import type { DataCluster } from './data-clusters.ts';
import { html, page, type SafeHtml } from './html.ts';

export interface LoginPageModel {
  action: string;
  customers: readonly SandboxCustomer[];
  /** The sandbox's one-time code for this request, shown on the page (no real channel exists). */
  code: string;
  problem?: string | undefined;
}

export function loginPage(model: LoginPageModel): string {
  return page(
    'Log in to the sandbox bank',
    html`${problemOf(model.problem)}
<form method="post" action="${model.action}">
<fieldset>
<legend>Test customer</legend>
${model.customers.map(
  (customer, index) =>
    html`<label><input type="radio" name="customer" value="${customer.customerId}"${index === 0 ? html` checked` : ''}> ${customer.name}</label>`,
)}
</fieldset>
<p id="code-hint">Sandbox one-time code: <span class="code" data-testid="one-time-code">${model.code}</span></p>
<label for="code">One-time code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" aria-describedby="code-hint" required>
<p><button type="submit">Log in</button></p>
</form>`,
  );
}

export interface ConsentPageModel {
  action: string;
  recipient: string;
  customer: SandboxCustomer;
  clusters: readonly DataCluster[];
  /** Seconds; 0 for a one-off consent. */
  sharingDuration: number;
  amending: boolean;
  problem?: string | undefined;
}

export function consentPage(model: ConsentPageModel): string {
  return page(
    model.amending ? `Change what you share with ${model.recipient}` : `Share data with ${model.recipient}`,
    html`${problemOf(model.problem)}
<p>Logged in as ${model.customer.name}.</p>
<form method="post" action="${model.action}">
<fieldset>
<legend>Accounts to share</legend>
${model.customer.accounts.map(
  (account) =>
    html`<label><input type="checkbox" name="accounts" value="${account.accountId}"> ${account.displayName} (${account.maskedNumber})</label>`,
)}
</fieldset>
<h2>Data requested</h2>
${
  model.clusters.length === 0
    ? html`<p>No account data, only a confirmation of who you are.</p>`
    : model.clusters.map(
        (cluster) => html`<h3>${cluster.name}</h3>
<ul>${cluster.items.map((item) => html`<li>${item}</li>`)}</ul>`,
      )
}
<h2>How long</h2>
<p data-testid="sharing-duration">${durationText(model.sharingDuration)}</p>
<p><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>`,
  );
}

export interface DashboardRow {
  arrangementId: string;
  recipient: string;
  accounts: string[];
  scope: string;
  /** Epoch seconds; undefined for a one-off consent. */
  expiresAt: number | undefined;
}

export interface DashboardPageModel {
  customer: SandboxCustomer;
  arrangements: readonly DashboardRow[];
  revokeAction: string;
  /** Ties each revoke form to this session (the session cookie alone is not enough). */
  csrf: string;
  notice?: string | undefined;
}

/** The sandbox customer's data-sharing dashboard: each active arrangement, with a button to stop it. */
export function dashboardPage(model: DashboardPageModel): string {
  return page(
    'Your data sharing',
    html`${model.notice ? html`<p role="status">${model.notice}</p>` : ''}
<p>Logged in as ${model.customer.name}.</p>
${
  model.arrangements.length === 0
    ? html`<p data-testid="no-arrangements">You are not sharing data with anyone.</p>`
    : model.arrangements.map(
        (row) => html`<section aria-labelledby="a-${row.arrangementId}" data-testid="arrangement">
<h2 id="a-${row.arrangementId}">${row.recipient}</h2>
<p>Accounts: ${row.accounts.join(', ')}. Scope: ${row.scope}.</p>
<p>${row.expiresAt ? `Until ${new Date(row.expiresAt * 1000).toUTCString()}.` : 'Once only.'}</p>
<form method="post" action="${model.revokeAction}">
<input type="hidden" name="arrangement_id" value="${row.arrangementId}">
<input type="hidden" name="csrf" value="${model.csrf}">
<button type="submit">Stop sharing with ${row.recipient}</button>
</form>
</section>`,
      )
}`,
  );
}

function problemOf(problem: string | undefined): SafeHtml | string {
  return problem ? html`<p role="alert" class="error">${problem}</p>` : '';
}

/** "Once only", or the period in the largest whole unit that fits. */
export function durationText(seconds: number): string {
  if (seconds === 0) return 'Once only: the data is collected once and no further access is given.';
  const units: Array<[string, number]> = [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  const [unit, size] = units.find(([, each]) => seconds >= each && seconds % each === 0) ?? ['second', 1];
  const count = seconds / size;
  return `For ${count} ${unit}${count === 1 ? '' : 's'} from today.`;
}
