import type { PublicRound } from '../protocol/public-rounds.js';
import type { RoundRecord } from '../protocol/rounds.js';
import type { FeedStatus } from './feed-messages.js';

/** How many clients a round selected, when the view says (the DP view does not). */
export function participantCount(r: RoundRecord | PublicRound): number | undefined {
  if (!('view' in r)) return r.participants.length;
  switch (r.view) {
    case 'aggregates':
      return r.participants;
    case 'dp':
      return undefined;
    default: {
      const never: never = r;
      throw new Error(`unknown round view ${JSON.stringify(never)}`);
    }
  }
}

/** How many clients are connected, when the view says. */
export function connectedCount(s: FeedStatus): number | undefined {
  return s.access === 'admin' ? s.connectedClients.length : s.connectedClients;
}

/** One line for a page: "round 3 training (upload), 2 participant(s); 3 client(s) connected". */
export function describeCoordinator(s: FeedStatus): string {
  const r = s.running;
  const count = r ? participantCount(r) : undefined;
  const round = r
    ? `round ${r.round} ${r.status}${r.stage ? ` (${r.stage})` : ''}${count === undefined ? '' : `, ${count} participant(s)`}`
    : 'no round running';
  const connected = connectedCount(s);
  return connected === undefined ? round : `${round}; ${connected} client(s) connected`;
}
