// GraphQL-over-HTTP conformance of a running gateway, checked with graphql-http's server audit.
//
//   node .ci/graphql-http-audit/audit.mjs http://127.0.0.1:8000/graphql
//
// Prints every audit with its outcome and exits 1 when any MUST (error) or SHOULD (warn) fails;
// failing MAYs are printed as notices and do not fail the run. Exits 2 when the audit itself
// cannot run (no URL, server unreachable, a request timing out).

import { auditServer } from 'graphql-http';

const REQUEST_TIMEOUT_MS = 10_000;

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

// A server that stops answering fails the run instead of hanging it.
const fetchWithTimeout = (input, init = {}) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

async function bodyExcerpt(response) {
  if (!response || response.bodyUsed) return '';
  try {
    const text = await response.text();
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return '';
  }
}

let results;
try {
  results = await auditServer({ url, fetchFn: fetchWithTimeout });
} catch (error) {
  console.error(`graphql-http audit could not run against ${url}: ${error?.stack ?? error}`);
  process.exit(2);
}

const LABEL = { ok: 'ok    ', notice: 'notice', warn: 'WARN  ', error: 'ERROR ' };
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
results.sort((a, b) => a.name.localeCompare(b.name));
for (const result of results) {
  counts[result.status] += 1;
  let line = `${LABEL[result.status]} [${result.id}] ${result.name}`;
  if (result.status !== 'ok') {
    const status = result.response ? ` (HTTP ${result.response.status})` : '';
    line += `\n         ${result.reason}${status}`;
    const body = await bodyExcerpt(result.response);
    if (body) line += `\n         body: ${body}`;
  }
  console.log(line);
}

console.log(
  `\ngraphql-http audit of ${url}: ${results.length} audits, ${counts.ok} ok, ` +
    `${counts.notice} notice (MAY), ${counts.warn} warn (SHOULD), ${counts.error} error (MUST)`,
);
if (counts.warn > 0 || counts.error > 0) {
  console.error('FAILED: every MUST and SHOULD of the GraphQL-over-HTTP audit has to pass');
  process.exit(1);
}
