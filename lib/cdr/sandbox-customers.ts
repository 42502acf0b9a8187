/**
 * The sandbox's test customers and their banking accounts: the consent page lets a tester log in as one
 * of them and pick accounts, and the banking data API serves their data. One list, imported by both.
 * Never used in production mode (no real customer data exists in obkit).
 */

export interface SandboxAccount {
  accountId: string;
  displayName: string;
  productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS' | 'TERM_DEPOSITS' | 'CRED_AND_CHRG_CARDS';
  productName: string;
  maskedNumber: string;
  openStatus: 'OPEN' | 'CLOSED';
  currency: 'AUD';
  currentBalance: string;
  availableBalance: string;
}

export interface SandboxCustomer {
  customerId: string;
  name: string;
  accounts: readonly SandboxAccount[];
}

export const SANDBOX_CUSTOMERS: readonly SandboxCustomer[] = [
  {
    customerId: 'sandbox-customer-jane',
    name: 'Jane Wilson',
    accounts: [
      {
        accountId: 'acc-jane-everyday',
        displayName: 'Everyday account',
        productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
        productName: 'Sandbox Everyday',
        maskedNumber: 'xxxx xxxx xxxx 1234',
        openStatus: 'OPEN',
        currency: 'AUD',
        currentBalance: '1523.45',
        availableBalance: '1500.00',
      },
      {
        accountId: 'acc-jane-saver',
        displayName: 'Bonus saver',
        productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
        productName: 'Sandbox Saver',
        maskedNumber: 'xxxx xxxx xxxx 5678',
        openStatus: 'OPEN',
        currency: 'AUD',
        currentBalance: '20450.00',
        availableBalance: '20450.00',
      },
      {
        accountId: 'acc-jane-card',
        displayName: 'Platinum card',
        productCategory: 'CRED_AND_CHRG_CARDS',
        productName: 'Sandbox Platinum',
        maskedNumber: 'xxxx xxxx xxxx 9012',
        openStatus: 'OPEN',
        currency: 'AUD',
        currentBalance: '-812.10',
        availableBalance: '9187.90',
      },
    ],
  },
  {
    customerId: 'sandbox-customer-omar',
    name: 'Omar Haddad',
    accounts: [
      {
        accountId: 'acc-omar-everyday',
        displayName: 'Everyday account',
        productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
        productName: 'Sandbox Everyday',
        maskedNumber: 'xxxx xxxx xxxx 3456',
        openStatus: 'OPEN',
        currency: 'AUD',
        currentBalance: '310.00',
        availableBalance: '310.00',
      },
      {
        accountId: 'acc-omar-term',
        displayName: 'Term deposit',
        productCategory: 'TERM_DEPOSITS',
        productName: 'Sandbox 12-month term deposit',
        maskedNumber: 'xxxx xxxx xxxx 7890',
        openStatus: 'OPEN',
        currency: 'AUD',
        currentBalance: '50000.00',
        availableBalance: '0.00',
      },
    ],
  },
];

export function sandboxCustomer(customerId: string): SandboxCustomer | undefined {
  return SANDBOX_CUSTOMERS.find((customer) => customer.customerId === customerId);
}
