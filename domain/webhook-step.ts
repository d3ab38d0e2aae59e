/**
 * How a `webhook` step's activity is run, shared by the workflow (which proxies it with these
 * options) and the activity (which claims the call for as long as an attempt may run). Pure
 * constants: safe in workflow code.
 *
 * An attempt's request is aborted after WEBHOOK_REQUEST_TIMEOUT_MS and the attempt writes its
 * outcome before its claim's lease (WEBHOOK_START_TO_CLOSE_MS) runs out; Temporal starts the next
 * attempt only after START_TO_CLOSE (plus the retry interval), so two attempts never call at once.
 */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;
export const WEBHOOK_START_TO_CLOSE_MS = 20_000;

/** A few retries for 5xx/timeouts, then the failure is an outcome to branch on. */
export const WEBHOOK_ACTIVITY_OPTIONS = {
  startToCloseTimeout: WEBHOOK_START_TO_CLOSE_MS,
  retry: { initialInterval: '10s', backoffCoefficient: 3, maximumInterval: '10m', maximumAttempts: 5 },
} as const;
