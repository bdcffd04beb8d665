// GraphQL Yoga on Node's http server, answering `exchangeRate` with the rate the gateway
// answers, for bench/http_overhead.py.   node server.mjs RATE --port PORT
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const [rate, , port] = process.argv.slice(2);
const yoga = createYoga({
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type ExchangeRate { base: String!  quote: String!  rate: String! }
      type Query { exchangeRate(base: String!, quote: String!): ExchangeRate! }
    `,
    resolvers: {
      Query: { exchangeRate: (_, { base, quote }) => ({ base, quote, rate }) },
    },
  }),
  graphiql: false,
  logging: false,
  landingPage: false,
});
createServer(yoga).listen(Number(port), '127.0.0.1');
