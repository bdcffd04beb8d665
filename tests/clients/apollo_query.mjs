// Runs one query through Apollo Client with its persisted-queries link, against a running
// gateway, and prints {"result": ..., "requests": [...]} where each request is what went over
// the wire (method, whether a query text and a hash were sent) and the status it got.
//
//   node apollo_query.mjs URL QUERY [apq|apq-get|manifest] [HEADERS_JSON]
//
// `manifest` prints, instead, the Apollo persisted query manifest of QUERY exactly as Apollo
// Client sends it (its own printing, with __typename added), for `sureflights documents add`.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createHash } from 'node:crypto';

const [url, queryText, mode = 'apq', headersJson = '{}'] = process.argv.slice(2);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const requests = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === 'string' ? input : input.url);
  let sent = {};
  if (init.body) {
    sent = JSON.parse(init.body);
  } else {
    for (const name of ['query', 'extensions']) {
      const value = target.searchParams.get(name);
      if (value !== null) sent[name] = name === 'extensions' ? JSON.parse(value) : value;
    }
  }
  const entry = {
    method: init.method ?? 'GET',
    sentQuery: typeof sent.query === 'string',
    sentHash: sent.extensions?.persistedQuery?.sha256Hash ?? null,
    query: sent.query ?? null,
  };
  requests.push(entry);
  if (mode === 'manifest') {
    return new Response(JSON.stringify({ data: null }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  }
  const response = await fetch(input, init);
  entry.status = response.status;
  return response;
}

const persisted = new PersistedQueryLink({
  sha256,
  useGETForHashedQueries: mode === 'apq-get',
});
const http = new HttpLink({ uri: url, fetch: recordingFetch, headers: JSON.parse(headersJson) });
const client = new ApolloClient({
  cache: new InMemoryCache(),
  // The manifest records the document as the plain HTTP link sends it.
  link: mode === 'manifest' ? http : persisted.concat(http),
});

const document = gql(queryText);
try {
  const result = await client
    .query({ query: document, fetchPolicy: 'no-cache' })
    .catch((error) => (mode === 'manifest' ? { data: null } : Promise.reject(error)));
  if (mode === 'manifest') {
    const body = requests.find((r) => r.query)?.query;
    if (!body) throw new Error('Apollo Client never sent the document');
    const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
    const manifest = {
      format: 'apollo-persisted-query-manifest',
      version: 1,
      operations: [
        { id: sha256(body), body, name: operation.name?.value, type: operation.operation },
      ],
    };
    process.stdout.write(`${JSON.stringify(manifest)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify({ result: { data: result.data }, requests })}\n`);
  }
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: String(error?.message ?? error), requests })}\n`,
  );
  process.exitCode = 1;
}
