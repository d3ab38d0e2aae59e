/**
 * The one signed JSON POST to a backend's webhook endpoint, for webhook steps (activities/webhooks.ts)
 * and notifications (engine/notifier.ts): signature header, X-Followup-Id, a timeout, no redirect
 * followed, at most `readBytes` of the answer read. Errors before the answer (unreachable, refused
 * address) throw; a body that fails to read is `readError`. Each caller decides what either means.
 */
import { readCapped } from './outbound-http';
import { signatureFor, SIGNATURE_HEADER } from './webhook-signing';

export interface SignedPost {
  url: string;
  /** The endpoint's signing secrets. */
  secrets: Parameters<typeof signatureFor>[0];
  /** The delivery's id (X-Followup-Id); receivers deduplicate on it. */
  id: string;
  body: string;
  /** Headers beyond the ones every signed POST carries. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** The signature's time. */
  now: Date;
  /** Bytes of the answer's body kept in `excerpt` (0: the body is not read). */
  readBytes: number;
}

export interface SignedPostAnswer {
  status: number;
  ok: boolean;
  headers: Headers;
  /** The first `readBytes` of the body; null when reading it failed. */
  excerpt: string | null;
  readError: string | null;
}

/** Sends `post` through `fetch` (the public-address-only one of platform/outbound-http.ts). */
export async function signedPost(fetch: typeof globalThis.fetch, post: SignedPost): Promise<SignedPostAnswer> {
  const res = await fetch(post.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'followup-engine/1',
      'x-followup-id': post.id,
      ...post.headers,
      [SIGNATURE_HEADER]: signatureFor(post.secrets, post.body, post.now),
    },
    body: post.body,
    signal: AbortSignal.timeout(post.timeoutMs),
    redirect: 'manual',
  });
  const answer = { status: res.status, ok: res.ok, headers: res.headers };
  try {
    return { ...answer, excerpt: await readCapped(res, post.readBytes), readError: null };
  } catch (err) {
    return { ...answer, excerpt: null, readError: err instanceof Error ? err.message : String(err) };
  }
}
