/**
 * /v1/providers: a workspace's own SendGrid key or Twilio (sub)account, stored sealed
 * (providers/credentials.ts); write-only: reads say only whether each is set. Sends of the
 * workspace use them instead of the service-wide ones.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { providerCredentials } from '#db/provider-credentials';
import type { Provider } from '#domain/delivery';
import { storeCredentials } from '#providers/credentials';
import { isSendGridPublicKey } from '#providers/sendgrid';
import { invalid } from '../errors';
import { iso, NullableTimestamp, v1Problems } from '../schemas/common';

const SendgridCredentials = Type.Object(
  {
    apiKey: Type.String({ minLength: 10, maxLength: 200, pattern: '^SG\\.', description: 'A SendGrid API key (SG....) with Mail Send permission' }),
    webhookPublicKey: Type.Optional(
      Type.String({
        minLength: 40,
        maxLength: 1000,
        description:
          "The account's Signed Event Webhook verification key, as SendGrid shows it. Set the account's Event Webhook URL to `/webhooks/sendgrid/events?workspace=<workspace id>`: its events are verified with this key and may change only this workspace's messages. A value that is not an ECDSA P-256 public key (base64 DER or PEM) is refused with 400",
      }),
    ),
  },
  { additionalProperties: false },
);
const TwilioCredentials = Type.Object(
  {
    accountSid: Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'The account or subaccount SID' }),
    authToken: Type.String({ minLength: 16, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const ProviderState = Type.Object({ set: Type.Boolean(), updatedAt: NullableTimestamp() });
const ProvidersView = Type.Object(
  { sendgrid: ProviderState, twilio: ProviderState },
  {
    description: 'Whether the workspace brought its own credentials; they are never shown',
    examples: [{ sendgrid: { set: true, updatedAt: '2026-11-30T10:00:00.000Z' }, twilio: { set: false, updatedAt: null } }],
  },
);
type ProvidersView = Static<typeof ProvidersView>;
const TAGS = ['providers'];

const providers: FastifyPluginAsyncTypebox = async (app) => {
  async function view(workspaceId: string): Promise<ProvidersView> {
    const rows = await providerCredentials(app.db, workspaceId);
    const state = (p: Provider) => {
      const row = rows.find((r) => r.provider === p);
      return { set: row !== undefined, updatedAt: row ? iso(row.updated_at) : null };
    };
    return { sendgrid: state('sendgrid'), twilio: state('twilio') };
  }

  app.get(
    '/providers',
    {
      schema: { tags: TAGS, summary: "Which of the workspace's own provider credentials are set", response: { 200: ProvidersView, ...v1Problems() } },
    },
    async (request) => view(request.workspaceId),
  );

  app.put(
    '/providers/sendgrid',
    {
      schema: {
        tags: TAGS,
        summary: "Set the workspace's own SendGrid key (write-only)",
        body: SendgridCredentials,
        response: { 200: ProvidersView, ...v1Problems(400, 413, 415) },
      },
    },
    async (request) => {
      const { webhookPublicKey } = request.body;
      if (webhookPublicKey !== undefined && !isSendGridPublicKey(webhookPublicKey)) {
        throw invalid([{ field: '/body/webhookPublicKey', message: 'is not an ECDSA P-256 public key (base64 DER as SendGrid shows it, or PEM)' }]);
      }
      await storeCredentials(app.db, app.config.SECRETS_KEY, request.workspaceId, 'sendgrid', request.body);
      return view(request.workspaceId);
    },
  );

  app.put(
    '/providers/twilio',
    {
      schema: {
        tags: TAGS,
        summary: "Set the workspace's own Twilio account or subaccount (write-only)",
        body: TwilioCredentials,
        response: { 200: ProvidersView, ...v1Problems(400, 413, 415) },
      },
    },
    async (request) => {
      await storeCredentials(app.db, app.config.SECRETS_KEY, request.workspaceId, 'twilio', request.body);
      return view(request.workspaceId);
    },
  );
};

export default providers;
