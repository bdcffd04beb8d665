// The ops dashboard: plain JavaScript over the gateway's own GraphQL API (HTTP for queries
// and mutations, WebSocket with the graphql-transport-ws protocol for live payments).
// The admin token lives in this closure only: never in the URL, storage or a cookie.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let token = null;
  let expiryTimer = null;
  let live = null;
  const channels = new Map(); // booking reference -> channel, for live payment rows
  let bookingCursors = [null];

  // --- Building the page without innerHTML: every value is text ---------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  const statusCell = (status) => h("td", { class: `status-${status}` }, status || "—");
  const bookingLink = (ref) => (ref ? h("a", { href: `#/booking/${encodeURIComponent(ref)}` }, ref) : "—");

  function notice(text) {
    const node = $("notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // --- GraphQL over HTTP -----------------------------------------------------------------

  class GraphQLError extends Error {
    constructor(errors) {
      super(errors.map((e) => e.message).join("; "));
      this.codes = errors.map((e) => (e.extensions || {}).code);
    }
  }

  async function gql(query, variables) {
    const headers = { "content-type": "application/json", accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables: variables || {} }),
      credentials: "omit",
      cache: "no-store",
    });
    let body;
    try {
      body = await response.json();
    } catch (_) {
      throw new GraphQLError([{ message: `The gateway answered ${response.status}.` }]);
    }
    if (body.errors && body.errors.length) {
      const error = new GraphQLError(body.errors);
      if (token && error.codes.includes("UNAUTHENTICATED")) {
        signOut("Your session has ended; sign in again.");
      }
      throw error;
    }
    return body.data;
  }

  // --- Signing in and out ----------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const field = $("password");
    $("sign-in-error").textContent = "";
    try {
      const data = await gql(
        "mutation($password: String!) { adminLogin(password: $password) { token expiresAt } }",
        { password: field.value },
      );
      field.value = "";
      token = data.adminLogin.token;
      const left = new Date(data.adminLogin.expiresAt).getTime() - Date.now();
      clearTimeout(expiryTimer);
      expiryTimer = setTimeout(() => signOut("Your session has ended; sign in again."), Math.max(left, 0));
      showApp();
    } catch (error) {
      $("sign-in-error").textContent = error.message;
    }
  }

  function signOut(message) {
    token = null;
    clearTimeout(expiryTimer);
    if (live) live.stop();
    live = null;
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("connection").hidden = true;
    $("sign-in").hidden = false;
    $("live-rows").replaceChildren();
    $("live-empty").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("password").focus();
  }

  function showApp() {
    $("sign-in").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    $("connection").hidden = false;
    live = new LivePayments(onPayment, setConnection);
    live.start();
    if (!location.hash || location.hash === "#") location.hash = "#/live";
    route();
    refreshQueueCount();
  }

  // --- Live payments over graphql-transport-ws -------------------------------------------

  const PAYMENT_UPDATES = `subscription {
    paymentUpdates { reference bookingReference status bookingStatus updatedAt amount { formatted } }
  }`;

  class LivePayments {
    constructor(onData, onState) {
      this.onData = onData;
      this.onState = onState;
      this.socket = null;
      this.retries = 0;
      this.stopped = false;
      this.timer = null;
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.socket) this.socket.close(1000, "signed out");
      this.socket = null;
    }

    connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
      this.socket = socket;
      socket.onopen = () => {
        socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
      };
      socket.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (message.type === "connection_ack") {
          this.retries = 0;
          this.onState(true);
          socket.send(JSON.stringify({ id: "payments", type: "subscribe", payload: { query: PAYMENT_UPDATES } }));
        } else if (message.type === "ping") {
          socket.send(JSON.stringify({ type: "pong" }));
        } else if (message.type === "next" && message.id === "payments") {
          const payload = message.payload || {};
          if (payload.errors && payload.errors.length) return this.refused(payload.errors);
          if (payload.data && payload.data.paymentUpdates) this.onData(payload.data.paymentUpdates);
        } else if (message.type === "error") {
          this.refused(Array.isArray(message.payload) ? message.payload : [message.payload || {}]);
        } else if (message.type === "complete") {
          socket.close(1000, "completed");
        }
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.onState(false);
        if (this.stopped) return;
        if (event.code === 4403 || event.code === 4401) {
          signOut("Your session has ended; sign in again.");
          return;
        }
        // Back off 1 s, 2 s, 4 s … up to 30 s, with jitter, until the gateway is back.
        const delay = Math.min(30000, 1000 * 2 ** this.retries) * (0.8 + Math.random() * 0.4);
        this.retries += 1;
        this.timer = setTimeout(() => this.connect(), delay);
      };
    }

    refused(errors) {
      const codes = errors.map((e) => (e.extensions || {}).code);
      if (codes.includes("UNAUTHENTICATED") || codes.includes("FORBIDDEN")) {
        signOut("Your session has ended; sign in again.");
      } else {
        notice(`Live payments: ${errors.map((e) => e.message).join("; ")}`);
      }
    }
  }

  function setConnection(online) {
    const pill = $("connection");
    pill.textContent = online ? "live" : "offline";
    pill.className = `pill ${online ? "online" : "offline"}`;
  }

  async function channelOf(reference) {
    if (!channels.has(reference)) {
      channels.set(
        reference,
        gql("query($r: ID!) { booking(reference: $r) { channel } }", { r: reference })
          .then((d) => (d.booking ? d.booking.channel : "—"))
          .catch(() => "—"),
      );
    }
    return channels.get(reference);
  }

  function onPayment(payment) {
    $("live-empty").hidden = true;
    const channel = h("td", { class: "channel" }, "…");
    const row = h(
      "tr",
      { class: "fresh payment", "data-payment": payment.reference, "data-booking": payment.bookingReference },
      h("td", {}, when(payment.updatedAt)),
      h("td", {}, bookingLink(payment.bookingReference)),
      h("td", {}, payment.reference),
      h("td", {}, payment.amount.formatted),
      statusCell(payment.status),
      channel,
    );
    const rows = $("live-rows");
    rows.prepend(row);
    while (rows.children.length > 200) rows.lastChild.remove();
    channelOf(payment.bookingReference).then((value) => (channel.textContent = value));
    refreshQueueCount();
  }

  // --- Bookings --------------------------------------------------------------------------

  const BOOKINGS = `query($status: BookingStatus, $channel: String, $from: DateTime, $to: DateTime,
      $search: String, $after: String) {
    bookings(status: $status, channel: $channel, createdFrom: $from, createdTo: $to,
        search: $search, first: 20, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { reference status channel createdAt totalAmount { formatted }
        passengers { givenName familyName email } } }
    }
  }`;

  function bookingFilters() {
    const form = new FormData($("booking-filters"));
    const day = (value, end) => (value ? new Date(`${value}T${end}`).toISOString() : null);
    return {
      status: form.get("status") || null,
      channel: form.get("channel") || null,
      search: (form.get("search") || "").trim() || null,
      from: day(form.get("from"), "00:00:00"),
      to: day(form.get("to"), "23:59:59.999"),
    };
  }

  async function loadBookings(page) {
    const after = bookingCursors[page] || null;
    try {
      const data = await gql(BOOKINGS, { ...bookingFilters(), after });
      const found = data.bookings;
      $("booking-rows").replaceChildren(
        ...found.edges.map(({ node }) =>
          h(
            "tr",
            { class: "booking" },
            h("td", {}, bookingLink(node.reference)),
            h("td", {}, when(node.createdAt)),
            statusCell(node.status),
            h("td", {}, node.channel),
            h("td", {}, node.totalAmount.formatted),
            h("td", {}, node.passengers.map((p) => `${p.givenName} ${p.familyName} <${p.email}>`).join(", ")),
          ),
        ),
      );
      $("bookings-total").textContent = `${found.totalCount} booking${found.totalCount === 1 ? "" : "s"}`;
      bookingCursors = bookingCursors.slice(0, page + 1);
      bookingCursors[page + 1] = found.pageInfo.hasNextPage ? found.pageInfo.endCursor : undefined;
      $("next-page").disabled = !found.pageInfo.hasNextPage;
      $("first-page").disabled = page === 0;
      $("next-page").dataset.page = String(page + 1);
    } catch (error) {
      notice(error.message);
    }
  }

  // --- One booking -----------------------------------------------------------------------

  const BOOKING = `query($r: ID!) {
    booking(reference: $r) {
      reference status channel createdAt updatedAt payBy airlineReference
      totalAmount { formatted } owner { name iataCode }
      slices { origin { iataCode name } destination { iataCode name } segments {
        flightNumber departingAt arrivingAt origin { iataCode } destination { iataCode }
        marketingCarrier { iataCode } } }
      passengers { type title givenName familyName email phoneNumber bornOn }
      payments { reference status mode amount { formatted } paidAt updatedAt }
      airlineChanges { id summary detectedAt respondBy answer answeredBy availableActions }
      notifications { kind channel recipient status attempts sentAt error detail }
      auditLog { at by action subject reason outcome }
      whatsappTranscript { direction at body }
    }
    ledger(bookingReference: $r) {
      balance { captured { formatted } kept { formatted } refunded { formatted }
        inFlight { formatted } held { formatted } }
      captures { paymentReference role reason capturedAt amount { formatted } }
      refunds { id paymentReference state reason providerStatus requestedAt amount { formatted } }
      orders { attempt kind state orderId airlineReference flown updatedAt }
      disputes { id paymentReference status event at }
      journal { at source kind detail }
      violations { kind detail repairable }
    }
  }`;

  function table(headings, rows) {
    if (!rows.length) return h("p", { class: "hint" }, "None.");
    return h(
      "div",
      { class: "scroll" },
      h("table", {}, h("thead", {}, h("tr", {}, headings.map((x) => h("th", {}, x)))), h("tbody", {}, rows)),
    );
  }

  const row = (...cells) => h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", {}, c))));
  const part = (title, id, ...content) => h("section", { id }, h("h3", {}, title), content);

  async function showBooking(reference) {
    const target = $("booking-detail");
    target.replaceChildren(h("p", { class: "hint" }, "Loading…"));
    let data;
    try {
      data = await gql(BOOKING, { r: reference });
    } catch (error) {
      target.replaceChildren(h("p", { class: "error" }, error.message));
      return;
    }
    const b = data.booking;
    const l = data.ledger;
    if (!b) {
      target.replaceChildren(h("p", { class: "error" }, `No booking ${reference}.`));
      return;
    }
    channels.set(b.reference, Promise.resolve(b.channel));
    target.replaceChildren(
      h(
        "div",
        { class: "detail" },
        h("h2", {}, `Booking ${b.reference}`),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Status"), h("dd", { class: `status-${b.status}`, id: "booking-status" }, b.status),
          h("dt", {}, "Channel"), h("dd", {}, b.channel),
          h("dt", {}, "Total"), h("dd", {}, b.totalAmount.formatted),
          h("dt", {}, "Airline"), h("dd", {}, `${b.owner.name} (${b.owner.iataCode})`),
          h("dt", {}, "Airline reference"), h("dd", {}, b.airlineReference || "—"),
          h("dt", {}, "Created"), h("dd", {}, when(b.createdAt)),
          h("dt", {}, "Pay by"), h("dd", {}, when(b.payBy)),
        ),
        part("Passengers", "passengers", table(
          ["Name", "Type", "Born", "Email", "Phone"],
          b.passengers.map((p) => row(`${p.title} ${p.givenName} ${p.familyName}`, p.type, p.bornOn, p.email, p.phoneNumber)),
        )),
        part("Itinerary", "itinerary", table(
          ["Flight", "From", "To", "Departs", "Arrives"],
          b.slices.flatMap((s) => s.segments.map((g) => row(
            `${g.marketingCarrier.iataCode}${g.flightNumber}`, g.origin.iataCode, g.destination.iataCode,
            when(g.departingAt), when(g.arrivingAt)))),
        )),
        part("Payments", "payments", table(
          ["Payment", "Status", "Mode", "Amount", "Paid", "Updated"],
          b.payments.map((p) => row(p.reference, statusCell(p.status), p.mode, p.amount.formatted, when(p.paidAt), when(p.updatedAt))),
        )),
        l ? part("Money", "balance", h("dl", { class: "facts" },
          h("dt", {}, "Captured"), h("dd", {}, l.balance.captured.formatted),
          h("dt", {}, "Kept for the order"), h("dd", {}, l.balance.kept.formatted),
          h("dt", {}, "Refunded"), h("dd", {}, l.balance.refunded.formatted),
          h("dt", {}, "In flight"), h("dd", {}, l.balance.inFlight.formatted),
          h("dt", {}, "Held for review"), h("dd", {}, l.balance.held.formatted),
        ), l.violations.length ? h("ul", { class: "error" }, l.violations.map((v) => h("li", {}, `${v.kind}: ${v.detail}`))) : null) : null,
        l ? part("Captures", "captures", table(
          ["Payment", "Role", "Amount", "When", "Why"],
          l.captures.map((c) => row(c.paymentReference, c.role, c.amount.formatted, when(c.capturedAt), c.reason)),
        )) : null,
        l ? part("Refunds", "refunds", table(
          ["Refund", "Payment", "State", "Amount", "Provider", "Asked", "Why"],
          l.refunds.map((r) => row(r.id, r.paymentReference, statusCell(r.state), r.amount.formatted, r.providerStatus || "—", when(r.requestedAt), r.reason)),
        )) : null,
        l ? part("Airline order", "orders", table(
          ["Attempt", "Kind", "State", "Order", "PNR", "Flown", "Updated"],
          l.orders.map((o) => row(o.attempt, o.kind, o.state, o.orderId || "—", o.airlineReference || "—", o.flown ? "yes" : "no", when(o.updatedAt))),
        )) : null,
        part("Airline changes", "airline-changes", table(
          ["Change", "Detected", "Summary", "Answer by", "Answer"],
          b.airlineChanges.map((c) => row(c.id, when(c.detectedAt), c.summary, when(c.respondBy), c.answer ? `${c.answer} (${c.answeredBy})` : "waiting")),
        )),
        l ? part("Disputes", "disputes", table(
          ["Dispute", "Payment", "Status", "Event", "When"],
          l.disputes.map((d) => row(d.id, d.paymentReference, d.status, d.event, when(d.at))),
        )) : null,
        part("Audit log", "audit", table(
          ["When", "Who", "Action", "On", "Why", "Outcome"],
          b.auditLog.map((a) => row(when(a.at), a.by, a.action, a.subject, a.reason, a.outcome || "—")),
        )),
        part("Notifications", "notifications", table(
          ["Kind", "Channel", "To", "Status", "Attempts", "Sent", "Error or why skipped"],
          b.notifications.map((n) => row(n.kind, n.channel, n.recipient, n.status, n.attempts, when(n.sentAt), n.error || n.detail || "—")),
        )),
        l ? part("Timeline", "timeline", table(
          ["When", "Who", "What", "Detail"],
          l.journal.map((e) => row(when(e.at), e.source, e.kind, e.detail)),
        )) : null,
        part("WhatsApp", "transcript", b.whatsappTranscript.length
          ? h("ul", { class: "transcript" }, b.whatsappTranscript.map((m) => h("li", { class: m.direction, title: when(m.at) }, m.body)))
          : h("p", { class: "hint" }, "No WhatsApp conversation.")),
      ),
    );
  }

  // --- The work queue --------------------------------------------------------------------

  const QUEUE = `query { workQueue(first: 200) {
    id kind summary since actions bookingReference paymentReference refundId changeId phone
    amount { formatted } } }`;

  const ACTIONS = {
    approve: ["Approve payment", "primary",
      "mutation($b: ID!, $p: ID!, $reason: String!) { approveHeldPayment(bookingReference: $b, paymentReference: $p, reason: $reason) { reference status } }",
      (i) => ({ b: i.bookingReference, p: i.paymentReference })],
    refund: ["Refund payment", "danger",
      "mutation($b: ID!, $p: ID!, $reason: String!) { refundHeldPayment(bookingReference: $b, paymentReference: $p, reason: $reason) { reference status } }",
      (i) => ({ b: i.bookingReference, p: i.paymentReference })],
    retry: ["Retry refund", "primary",
      "mutation($b: ID!, $r: ID!, $reason: String!) { retryRefund(bookingReference: $b, refundId: $r, reason: $reason) { reference status } }",
      (i) => ({ b: i.bookingReference, r: i.refundId })],
    accept: ["Accept change", "primary",
      "mutation($b: ID!, $c: ID!, $reason: String!) { answerAirlineChange(bookingReference: $b, changeId: $c, answer: ACCEPT, reason: $reason) { reference status } }",
      (i) => ({ b: i.bookingReference, c: i.changeId })],
    cancel: ["Cancel with refund", "danger",
      "mutation($b: ID!, $c: ID!, $reason: String!) { answerAirlineChange(bookingReference: $b, changeId: $c, answer: CANCEL, reason: $reason) { reference status } }",
      (i) => ({ b: i.bookingReference, c: i.changeId })],
    resolve: ["Mark answered", "primary",
      "mutation($phone: String!, $reason: String!) { resolveHandoff(phone: $phone, reason: $reason) { action } }",
      (i) => ({ phone: i.phone })],
    acknowledge: ["Acknowledge", "",
      "mutation($id: ID!, $reason: String!) { acknowledgeWorkItem(id: $id, reason: $reason) { reference status } }",
      (i) => ({ id: i.id })],
  };

  function actionForm(item, name, holder) {
    const [label, style, mutation, variables] = ACTIONS[name];
    const reason = h("textarea", { name: "reason", maxlength: 500, "aria-label": "Reason" });
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      {
        class: "reason-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const why = reason.value.trim();
          if (!why) {
            error.textContent = "Say why.";
            return;
          }
          submit.disabled = true;
          try {
            await gql(mutation, { ...variables(item), reason: why });
            notice(`${label}: done${item.bookingReference ? ` for ${item.bookingReference}` : ""}.`);
            await loadQueue();
          } catch (failure) {
            error.textContent = failure.message;
            submit.disabled = false;
          }
        },
      },
      h("label", {}, `Why? (${label.toLowerCase()})`, reason),
    );
    const submit = h("button", { type: "submit", class: style || null }, `Confirm: ${label}`);
    form.append(submit, h("button", { type: "button", onclick: () => form.remove() }, "Back"), error);
    holder.querySelectorAll("form").forEach((f) => f.remove());
    holder.append(form);
    reason.focus();
  }

  async function loadQueue() {
    let items;
    try {
      items = (await gql(QUEUE)).workQueue;
    } catch (error) {
      notice(error.message);
      return;
    }
    $("queue-count").textContent = items.length ? String(items.length) : "";
    $("queue-empty").hidden = items.length > 0;
    $("queue-items").replaceChildren(
      ...items.map((item) => {
        const holder = h(
          "li",
          { class: "item", "data-kind": item.kind, "data-id": item.id },
          h("h3", {}, item.kind.replaceAll("_", " ").toLowerCase()),
          h("p", {}, item.summary),
          h("p", { class: "hint" },
            item.bookingReference ? ["Booking ", bookingLink(item.bookingReference), " · "] : null,
            item.phone ? `WhatsApp ${item.phone} · ` : null,
            item.amount ? `${item.amount.formatted} · ` : null,
            `since ${when(item.since)}`),
        );
        holder.append(
          h("div", { class: "actions" }, item.actions.filter((a) => ACTIONS[a]).map((a) =>
            h("button", { type: "button", class: ACTIONS[a][1] || null, "data-action": a, onclick: () => actionForm(item, a, holder) }, ACTIONS[a][0]))),
        );
        return holder;
      }),
    );
  }

  async function refreshQueueCount() {
    try {
      const items = (await gql("query { workQueue(first: 200) { id } }")).workQueue;
      $("queue-count").textContent = items.length ? String(items.length) : "";
    } catch (_) {
      /* shown when the queue is opened */
    }
  }

  // --- Health ----------------------------------------------------------------------------

  const HEALTH = `query { opsHealth { ready dependencies { name status mode detail }
    reconciler { enabled intervalSeconds passes lastPassAt lookedAt changed failed
      lastPassSteps { step count } repaired { step count } } } }`;

  async function loadHealth() {
    let health;
    try {
      health = (await gql(HEALTH)).opsHealth;
    } catch (error) {
      notice(error.message);
      return;
    }
    $("health-summary").textContent = health.ready ? "Ready: every dependency answers." : "Not ready: a dependency is down.";
    $("health-summary").className = health.ready ? "status-ok" : "status-down";
    $("health-rows").replaceChildren(
      ...health.dependencies.map((d) =>
        h("tr", { "data-dependency": d.name }, h("td", {}, d.name), statusCell(d.status), h("td", {}, d.mode),
          h("td", {}, Object.keys(d.detail || {}).length ? JSON.stringify(d.detail) : "—"))),
    );
    const r = health.reconciler;
    const steps = (list) => (list.length ? list.map((s) => `${s.step} × ${s.count}`).join(", ") : "none");
    $("reconciler").replaceChildren(
      h("dt", {}, "Running"), h("dd", {}, r.enabled ? `every ${r.intervalSeconds} s` : "off (RECONCILE_INTERVAL_SECONDS=0)"),
      h("dt", {}, "Last pass"), h("dd", {}, r.lastPassAt ? when(r.lastPassAt) : "none yet"),
      h("dt", {}, "Passes"), h("dd", {}, r.passes),
      h("dt", {}, "Last pass drove"), h("dd", {}, `${r.lookedAt} bookings, ${r.changed} changed, ${r.failed} failed`),
      h("dt", {}, "Last pass steps"), h("dd", {}, steps(r.lastPassSteps)),
      h("dt", {}, "Repaired since start"), h("dd", {}, steps(r.repaired)),
    );
  }

  // --- Sandbox emails --------------------------------------------------------------------

  const EMAILS = `query { sandboxEmails(first: 100) { name to subject writtenAt size } }`;

  async function loadEmails() {
    let emails;
    try {
      emails = (await gql(EMAILS)).sandboxEmails;
    } catch (error) {
      notice(error.message);
      return;
    }
    $("email-rows").replaceChildren(
      ...emails.map((e) => {
        const reference = (e.subject.match(/\bSF[A-Z0-9]{6}\b/) || [])[0];
        const subject = reference
          ? h("a", { href: `#/booking/${encodeURIComponent(reference)}` }, e.subject)
          : e.subject;
        return row(when(e.writtenAt), e.to, subject, e.name, `${Math.ceil(e.size / 1024)} KiB`);
      }),
    );
    $("emails-empty").hidden = emails.length > 0;
  }

  // --- Routing ---------------------------------------------------------------------------

  function route() {
    if (!token) return;
    const [, view, arg] = (location.hash || "#/live").split("/");
    const name = view === "booking" ? "booking" : ["live", "bookings", "queue", "emails", "health"].includes(view) ? view : "live";
    for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
    for (const link of document.querySelectorAll(".tabs a")) {
      if (link.dataset.view === name || (name === "booking" && link.dataset.view === "bookings")) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    notice("");
    if (name === "bookings") loadBookings(0);
    if (name === "booking" && arg) showBooking(decodeURIComponent(arg));
    if (name === "queue") loadQueue();
    if (name === "emails") loadEmails();
    if (name === "health") loadHealth();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    $("booking-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      bookingCursors = [null];
      loadBookings(0);
    });
    $("next-page").addEventListener("click", (event) => loadBookings(Number(event.target.dataset.page || 1)));
    $("first-page").addEventListener("click", () => loadBookings(0));
    $("queue-refresh").addEventListener("click", loadQueue);
    $("health-refresh").addEventListener("click", loadHealth);
    $("emails-refresh").addEventListener("click", loadEmails);
    window.addEventListener("hashchange", route);
    $("password").focus();
  });
})();
