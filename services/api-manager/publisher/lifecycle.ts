import { badRequest } from '../request.ts';

/** WSO2's default API lifecycle: state → action → next state. */
const TRANSITIONS: Record<string, Record<string, string>> = {
  CREATED: { Publish: 'PUBLISHED', 'Deploy as a Prototype': 'PROTOTYPED' },
  PROTOTYPED: { Publish: 'PUBLISHED', 'Demote to Created': 'CREATED' },
  PUBLISHED: { Block: 'BLOCKED', Deprecate: 'DEPRECATED', 'Demote to Created': 'CREATED' },
  BLOCKED: { 'Re-Publish': 'PUBLISHED', Deprecate: 'DEPRECATED' },
  DEPRECATED: { Retire: 'RETIRED' },
  RETIRED: {},
};

const DISPLAY: Record<string, string> = {
  CREATED: 'Created',
  PROTOTYPED: 'Prototyped',
  PUBLISHED: 'Published',
  BLOCKED: 'Blocked',
  DEPRECATED: 'Deprecated',
  RETIRED: 'Retired',
};

/** The state `action` leads to from `state`, or a 400 naming the legal actions. */
export function nextLifecycleState(state: string, action: string): string {
  const next = TRANSITIONS[state]?.[action];
  if (!next) {
    const legal = Object.keys(TRANSITIONS[state] ?? {});
    throw badRequest(
      `action ${action} is not allowed in lifecycle state ${state}` +
        (legal.length ? ` (allowed: ${legal.join(', ')})` : ' (no further transitions)'),
    );
  }
  return next;
}

/** The publisher v4 LifecycleStateDTO. */
export function lifecycleStateDto(state: string) {
  return {
    state: DISPLAY[state] ?? state,
    checkItems: [],
    availableTransitions: Object.entries(TRANSITIONS[state] ?? {}).map(([event, target]) => ({
      event,
      targetState: DISPLAY[target] ?? target,
    })),
  };
}
