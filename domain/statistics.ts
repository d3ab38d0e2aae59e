/**
 * Rates of the statistics routes, from the counts of db/statistics.ts. A rate is a fraction in
 * [0, 1] rounded to four places, or null when its denominator is zero (no data is not 0 %).
 * - completion, error, conversion: over the enrollments that ended in the window;
 * - open, click, unsubscribe, reply: over the messages sent in the window.
 */

export interface EndedEnrollments {
  completed: number;
  exited: number;
  failed: number;
  converted: number;
}

export interface MessageOutcomes {
  sent: number;
  opened: number;
  clicked: number;
  unsubscribed: number;
  replied: number;
}

export interface Rates {
  completion: number | null;
  error: number | null;
  conversion: number | null;
  open: number | null;
  click: number | null;
  unsubscribe: number | null;
  reply: number | null;
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}

export function rates(e: EndedEnrollments, m: MessageOutcomes): Rates {
  const ended = e.completed + e.exited + e.failed;
  return {
    completion: ratio(e.completed, ended),
    error: ratio(e.failed, ended),
    conversion: ratio(e.converted, ended),
    open: ratio(m.opened, m.sent),
    click: ratio(m.clicked, m.sent),
    unsubscribe: ratio(m.unsubscribed, m.sent),
    reply: ratio(m.replied, m.sent),
  };
}
