import { type SandboxAccount, sandboxCustomer } from '../../lib/cdr/sandbox-customers.ts';
import { InvalidBankingAccount } from '../../lib/http/errors.ts';
import type { ArrangementGrant } from './arrangement-client.ts';

/** The sandbox accounts an arrangement covers: its customer's, and of those only the ones consented to. */
export function accountsOf(grant: ArrangementGrant): SandboxAccount[] {
  const customer = sandboxCustomer(grant.customerId);
  return (customer?.accounts ?? []).filter((account) => grant.accountIds.has(account.accountId));
}

/** One covered account; 404 InvalidBankingAccount for any other id (another customer's or not consented). */
export function coveredAccount(grant: ArrangementGrant, accountId: string): SandboxAccount {
  const account = accountsOf(grant).find((candidate) => candidate.accountId === accountId);
  if (!account) throw new InvalidBankingAccount(`${accountId} is not an account this arrangement covers`);
  return account;
}

/** CDS `BankingAccountV2` (Get Accounts v2). */
export function bankingAccountV2(account: SandboxAccount) {
  return {
    accountId: account.accountId,
    displayName: account.displayName,
    openStatus: account.openStatus,
    isOwned: true,
    accountOwnership: 'ONE_PARTY',
    maskedNumber: account.maskedNumber,
    productCategory: account.productCategory,
    productName: account.productName,
  };
}

/** CDS `BankingBalance` (Get Account Balance v1). */
export function bankingBalance(account: SandboxAccount) {
  return {
    accountId: account.accountId,
    currentBalance: account.currentBalance,
    availableBalance: account.availableBalance,
    currency: account.currency,
  };
}
