// Subscribes through graphql-sse's reference client (distinct connections mode) and prints one
// JSON line per event on stdout: {"next": result}, then {"complete": true} or {"error": "..."}.
//
//   node sse_subscribe.mjs URL '{"query": "...", "variables": {}}' '{"Authorization": "..."}' [COUNT]
//
// Stops after COUNT results (when given), on completion or on an error; a client that hears
// nothing for 20 seconds gives up, so a silent server fails the test instead of hanging it.
import { createClient } from 'graphql-sse';

const [url, payloadJson, headersJson = '{}', countText] = process.argv.slice(2);
const payload = JSON.parse(payloadJson);
const headers = JSON.parse(headersJson);
const wanted = countText ? Number(countText) : Infinity;

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
let received = 0;
let idle = setTimeout(() => finish({ error: 'no event for 20 seconds' }, 3), 20_000);

const client = createClient({ url, headers, retryAttempts: 0, singleConnection: false });
let dispose = () => {};

function finish(line, code = 0) {
  clearTimeout(idle);
  print(line);
  dispose();
  client.dispose();
  process.exitCode = code;
  setTimeout(() => process.exit(code), 50);
}

dispose = client.subscribe(payload, {
  next(result) {
    clearTimeout(idle);
    idle = setTimeout(() => finish({ error: 'no event for 20 seconds' }, 3), 20_000);
    received += 1;
    print({ next: result });
    if (received >= wanted) finish({ stopped: true });
  },
  error(error) {
    finish({ error: String(error?.message ?? error) }, 2);
  },
  complete() {
    finish({ complete: true });
  },
});
print({ subscribed: true });
