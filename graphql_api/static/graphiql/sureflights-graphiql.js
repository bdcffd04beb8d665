// GraphiQL for the SureFlights gateway: queries and mutations over HTTP, subscriptions over
// WebSocket (graphql-transport-ws), both with the headers of GraphiQL's headers editor.
"use strict";

(function () {
  var endpoint = window.location.href.split(/[?#]/)[0];

  function socketUrl(url) {
    var parsed = new URL(url);
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    parsed.hash = "";
    parsed.search = "";
    return parsed.toString();
  }

  var http = GraphiQL.createFetcher({ url: endpoint });

  // One WebSocket client per set of headers: a partner key typed in later opens a new
  // connection that authenticates with it (the headers are the connection_init payload).
  var socket = null;
  var socketHeaders = null;

  function clientFor(headers) {
    var key = JSON.stringify(headers || {});
    if (socket === null || socketHeaders !== key) {
      if (socket !== null) {
        socket.dispose();
      }
      socket = graphqlWs.createClient({
        url: socketUrl(endpoint),
        connectionParams: headers || {},
        lazy: true,
        retryAttempts: 3,
      });
      socketHeaders = key;
    }
    return socket;
  }

  // GraphiQL's documentAST can lag behind what was just typed, so the text itself decides
  // when the AST is not of it: the named operation if the document has it, else the first.
  function isSubscription(params, options) {
    var query = params.query || "";
    var document = options && options.documentAST;
    if (document && document.loc && document.loc.source.body === query) {
      var operations = document.definitions.filter(function (definition) {
        return definition.kind === "OperationDefinition";
      });
      var named = operations.filter(function (operation) {
        return operation.name && operation.name.value === params.operationName;
      });
      var chosen = named.length > 0 ? named[0] : operations[0];
      return Boolean(chosen) && chosen.operation === "subscription";
    }
    var text = query.replace(/"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*/g, " ");
    var heads = text.match(/\b(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/g) || [];
    var first = /^\s*\{/.test(text) ? "query" : heads[0] || "";
    for (var i = 0; i < heads.length; i++) {
      var parts = heads[i].split(/\s+/);
      if (params.operationName && parts[1] === params.operationName) {
        return parts[0] === "subscription";
      }
    }
    return /^subscription\b/.test(first);
  }

  // An operation name GraphiQL has not caught up on yet (the document was just replaced) is
  // left out rather than sent for a document that has no such operation.
  function withCurrentName(params) {
    var name = params.operationName;
    var declared = new RegExp("\\b(query|mutation|subscription)\\s+" + name + "\\b");
    if (!name || declared.test(params.query || "")) {
      return params;
    }
    return Object.assign({}, params, { operationName: null });
  }

  function fetcher(graphQLParams, options) {
    var params = withCurrentName(graphQLParams);
    if (!isSubscription(params, options)) {
      return http(params, options);
    }
    var client = clientFor(options && options.headers);
    // An Observable, which GraphiQL reads as a stream of results.
    return {
      subscribe: function (observer) {
        var stop = client.subscribe(
          { query: params.query, variables: params.variables, operationName: params.operationName },
          {
            next: function (value) {
              observer.next(value);
            },
            error: function (error) {
              if (error instanceof CloseEvent) {
                observer.error(new Error("WebSocket closed (" + error.code + "): " + error.reason));
              } else if (Array.isArray(error)) {
                observer.next({ errors: error });
                observer.complete();
              } else {
                observer.error(error);
              }
            },
            complete: function () {
              observer.complete();
            },
          }
        );
        return { unsubscribe: stop };
      },
    };
  }

  var welcome = [
    "# SureFlights GraphQL",
    "#",
    "# Partners: put your key in the Headers tab below, as",
    '#   {"X-API-Key": "sfk_..."}',
    "# then press Ctrl-Shift-R (or the refresh icon) to load the docs with it.",
    "# Subscriptions run over WebSocket with the same headers.",
    "#",
    "# Run with Ctrl-Enter.",
    "",
    "query Rate {",
    '  exchangeRate(base: "USD", quote: "NGN") {',
    "    base",
    "    quote",
    "    rate",
    "    asOf",
    "  }",
    "}",
    "",
  ].join("\n");

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: welcome,
      isHeadersEditorEnabled: true,
      // Keys typed into the headers editor stay in this tab, not in the browser's storage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
      schemaDescription: true,
    })
  );
})();
