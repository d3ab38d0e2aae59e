"""Schemathesis hooks for `npm run test:contract` (schemathesis.toml's `hooks`).

Schemathesis's positive_data_acceptance check fails every request that is valid by the schema but
refused. Some refusals depend on what JSON Schema cannot state: another field or the stored
resource, another resource that must exist, the time zone database, the clock, a cursor only this
API makes. The OpenAPI document explains each in the description of the field (or parameter).
This check is positive_data_acceptance (turned off in schemathesis.toml) except that it does not
count a 400 or 422 whose every problem (the `errors` of the problem+json body, else its `field`
and `detail`) is one of the refusals below, on the operations named. Any other refusal of valid
data still fails the run. README.md, "Contract fuzzing", lists them.
"""

import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

_ANY = r".*"

# (operations, field pointer, message): regular expressions, each matched in full.
DOCUMENTED_REFUSALS = [
    # U+0000 anywhere (the document's description): PostgreSQL cannot store it. schemathesis.toml's
    # allow-x00 keeps it out of generated strings, but not out of generated object keys.
    (_ANY, r"/.+", r"must not contain the NUL character \(U\+0000\)"),
    # Event properties and record attributes nested deeper than the limit, or with a reserved key at
    # any level (the descriptions of `properties` and `attributes`); maxProperties states the rest.
    (_ANY, r"(?s)/body/.+", r'nests deeper than \d+ levels|"(__proto__|constructor|prototype)" is a reserved key'),
    # A cursor this list did not hand out (each `cursor` parameter's description).
    (_ANY, r"/querystring/cursor", r"is not a cursor returned by this list"),
    # A name that is not in the time zone database (TimeZone's description).
    (_ANY, r"/body(/.+)?/timezone", r".* is not an IANA time zone.*"),
    # Quiet hours whose start equals their end: a window of no length.
    (r"PUT /v1/settings", r"/body/quietHours/(email|sms|voicemail)/end", r"must differ from start"),
    # Ids of other resources that must exist: templates, users, senders, records.
    (_ANY, r"/body/.+", r"no (template|user|sender|record)\b.*"),
    # Content whose shape is the stored template's channel's (PUT), and an email template with
    # neither html, text nor a SendGrid template, or with a SendGrid template and html or text
    # (EmailContent's and sendgridTemplateId's descriptions).
    (r"PUT /v1/templates/\{id\}", r"/body/content(/.+)?", r"is required|unknown field"),
    (r"(POST /v1/templates|PUT /v1/templates/\{id\})", r"/body/content", r"an email template needs .*"),
    (r"(POST /v1/templates|PUT /v1/templates/\{id\})", r"/body/content/(html|text)", r"SendGrid renders the body of a sendgridTemplateId email: .*"),
    # An address of the kind the template's or the suppression's channel needs.
    (r"POST /v1/templates/\{id\}/test-send", r"/body/to", r"must be an (email address|E\.164 number).*"),
    (r"POST /v1/suppressions", r"/body/address", r"is not an (email address|E\.164 number).*"),
    # A URL the WHATWG URL parser takes, http or https, without credentials.
    (r"POST /v1/webhook-endpoints", r"/body/url", r"is not a URL|must be http:// or https:// .*|must not carry credentials.*"),
    # An SMS sender with exactly one of `from` and `messagingServiceSid`.
    (r"POST /v1/senders", r"/body/from", r"an SMS sender needs exactly one of .*"),
    # A key SendGrid could have made: an ECDSA P-256 public key.
    (r"PUT /v1/providers/sendgrid", r"/body/webhookPublicKey", r"is not an ECDSA P-256 public key.*"),
    # A statistics window from before to, at most 400 days long.
    (r"GET /v1/(automations/\{id\}/)?stats", r"/querystring/(from|to)", r"must be before `to`|the window may span at most 400 days"),
    # The first activation says whether records that already match are enrolled.
    (r"POST /v1/automations/\{id\}/activate", r"/body/onlyNew", r"is required at the first activation.*"),
]


def _problems(response):
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return [(e.get("field"), e.get("message")) for e in errors if isinstance(e, dict)]
    field, detail = body.get("field"), body.get("detail")
    prefix = f"{field}: "
    return [(field, detail[len(prefix) :] if isinstance(detail, str) and detail.startswith(prefix) else detail)]


def _documented(label, field, message):
    return any(
        re.fullmatch(operations, label) and re.fullmatch(pointer, field) and re.fullmatch(text, message, re.DOTALL)
        for operations, pointer, text in DOCUMENTED_REFUSALS
    )


def _explained(label, response):
    problems = _problems(response)
    return bool(problems) and all(
        isinstance(field, str) and isinstance(message, str) and _documented(label, field, message) for field, message in problems
    )


@schemathesis.check
def positive_data_acceptance_unless_documented(ctx, response, case):
    if response.status_code in (400, 422) and _explained(case.operation.label, response):
        return None
    return positive_data_acceptance(ctx, response, case)
