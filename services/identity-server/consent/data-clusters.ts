/**
 * What a customer is asked to share, in the CDR's data language (CX standards, banking and common
 * clusters): one cluster per data scope, with the items it covers. Scopes that are not data (openid,
 * cdr:registration…) show nothing.
 */
export interface DataCluster {
  scope: string;
  name: string;
  items: readonly string[];
}

const CLUSTERS: readonly DataCluster[] = [
  {
    scope: 'common:customer.basic:read',
    name: 'Name and occupation',
    items: ['Name', 'Occupation'],
  },
  {
    scope: 'common:customer.detail:read',
    name: 'Name, occupation, contact details',
    items: ['Name', 'Occupation', 'Phone', 'Email address', 'Mail address', 'Residential address'],
  },
  {
    scope: 'bank:accounts.basic:read',
    name: 'Account name, type and balance',
    items: ['Name of account', 'Type of account', 'Account balance'],
  },
  {
    scope: 'bank:accounts.detail:read',
    name: 'Account numbers and features',
    items: ['Account number', 'Interest rates', 'Fees', 'Discounts', 'Account terms', 'Account mail address'],
  },
  {
    scope: 'bank:transactions:read',
    name: 'Transaction details',
    items: [
      'Incoming and outgoing transactions',
      'Amounts',
      'Dates',
      'Descriptions of transactions',
      'Who you have sent money to and received money from',
    ],
  },
  {
    scope: 'bank:regular_payments:read',
    name: 'Direct debits and scheduled payments',
    items: ['Direct debits', 'Scheduled payments'],
  },
  {
    scope: 'bank:payees:read',
    name: 'Saved payees',
    items: ['Names and details of accounts you have saved'],
  },
];

export function dataClustersOf(scopes: readonly string[]): DataCluster[] {
  return CLUSTERS.filter((cluster) => scopes.includes(cluster.scope));
}
