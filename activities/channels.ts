/**
 * Delivery channels. A provider (SendGrid, Twilio) implements `DeliveryChannel`; with no
 * credentials the sandbox channel stands in: nothing leaves the process and the message is
 * stored as `sandboxed`, so a fresh install shows what it would have sent.
 */
import type { MessageChannel } from './types';

export interface OutboundMessage {
  channel: MessageChannel;
  /** Email address or E.164 phone number. */
  to: string;
  subject: string | null;
  text: string | null;
  html: string | null;
  /** Voicemail: a recording to drop instead of text-to-speech. */
  audioUrl: string | null;
  /** Stable per message: providers that take an idempotency key get this one. */
  idempotencyKey: string;
}

export interface DeliveryReceipt {
  providerId: string | null;
  status: 'sent' | 'sandboxed';
}

export interface DeliveryChannel {
  readonly name: string;
  send(message: OutboundMessage): Promise<DeliveryReceipt>;
}

/** A provider refused the message for good (invalid address, 4xx): recorded, not retried. */
export class PermanentDeliveryError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

/** A provider failed in a way that may pass (429, 5xx, timeout); `retryAfterMs` honours Retry-After. */
export class TransientDeliveryError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}

export type Channels = Record<MessageChannel, DeliveryChannel>;

export const sandboxChannel: DeliveryChannel = {
  name: 'sandbox',
  async send() {
    return { providerId: null, status: 'sandboxed' };
  },
};

/** Every channel sandboxed unless a provider is given for it. */
export function channelsWith(providers: Partial<Channels> = {}): Channels {
  return {
    email: providers.email ?? sandboxChannel,
    sms: providers.sms ?? sandboxChannel,
    voicemail: providers.voicemail ?? sandboxChannel,
  };
}
