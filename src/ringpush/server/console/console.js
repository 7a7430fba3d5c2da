// The ringpush console: plain JavaScript over ringpush's own HTTP API, signed in with
// the operator key (kept in this tab's session storage and sent only to this origin).
"use strict";

const KEY_STORE = "ringpush.operator-key";
const LIMITS = { voip: 5120, other: 4096 };
const SAMPLES = {
  alert: { aps: { alert: { title: "Test", body: "Hello from the ringpush console" } } },
  background: { aps: { "content-available": 1 } },
  complication: { aps: {}, complication: "refresh" },
  fileprovider: { "container-identifier": "NSFileProviderRootContainerItemIdentifier" },
  fcm: { message: "Hello from the ringpush console" },
};
const LOG_ROWS = 500;

const $ = (id) => document.getElementById(id);
const state = {
  key: null,
  apps: [],
  app: null,
  users: [],
  devices: new Map(), // user id -> devices
  reasons: {},
  log: new Map(), // push id -> delivery
  call: null, // the test call placed from here
  user: null, // the user whose devices are shown
  stream: null,
};

class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiFailure(response.status, error.code || "error", error.message || response.statusText);
  }
  return data;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

function bytes(text) {
  return new TextEncoder().encode(text).length;
}

// --- signing in -------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  const error = $("signin-error");
  try {
    state.apps = await api("GET", "/v1/apps");
  } catch (failure) {
    state.key = null;
    sessionStorage.removeItem(KEY_STORE);
    error.textContent =
      failure.status === 401
        ? "That key was refused: it is not a key this server knows."
        : failure.status === 403
          ? "That is not the operator key (a service key or user token cannot sign in here)."
          : `Could not sign in: ${failure.message}`;
    error.hidden = false;
    return;
  }
  sessionStorage.setItem(KEY_STORE, key);
  error.hidden = true;
  $("signin").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  state.reasons = await (await fetch("/console/reasons.json")).json();
  renderApps();
  followLog();
}

function signOut() {
  sessionStorage.removeItem(KEY_STORE);
  if (state.stream) state.stream.abort();
  window.location.reload();
}

// --- apps, users, devices ----------------------------------------------------------

function renderApps() {
  const select = $("app");
  const filter = $("filter-app");
  select.replaceChildren();
  for (const app of state.apps) {
    select.append(el("option", { value: app.app_id }, app.app_id));
    filter.append(el("option", { value: app.app_id }, app.app_id));
  }
  if (state.apps.length) selectApp(state.apps[0].app_id);
  else $("app-details").replaceChildren(el("dd", {}, "No apps yet: PUT /v1/apps/{app_id} creates one."));
}

async function selectApp(appId) {
  state.app = state.apps.find((app) => app.app_id === appId) || null;
  $("app").value = appId;
  const app = state.app;
  const environments = [
    app.apns_url_development ? `development: ${app.apns_url_development}` : "development: Apple",
    app.apns_url_production ? `production: ${app.apns_url_production}` : "production: Apple",
  ];
  if (app.apns_url) environments.splice(0, 2, `both: ${app.apns_url}`);
  const rows = [
    ["Bundle id", app.bundle_id],
    ["Auth", app.auth],
    ["Key id", app.key_id || "—"],
    ["Team id", app.team_id || "—"],
    ["APNs", environments.join("; ")],
    ["FCM", app.fcm_project_id ? `${app.fcm_project_id} (${app.fcm_client_email}) at ${app.fcm_url || "Google"}` : "—"],
  ];
  $("app-details").replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  state.devices.clear();
  state.users = await api("GET", `/v1/apps/${encodeURIComponent(appId)}/users`);
  await renderUsers();
  await refreshLog();
}

async function devicesOf(userId) {
  if (!state.devices.has(userId)) {
    const path = `/v1/apps/${encodeURIComponent(state.app.app_id)}/users/${encodeURIComponent(userId)}/devices`;
    state.devices.set(userId, await api("GET", path));
  }
  return state.devices.get(userId);
}

async function renderUsers() {
  const term = $("search").value.trim().toLowerCase();
  const shown = [];
  for (const userId of state.users.slice(0, 200)) {
    if (!term || userId.toLowerCase().includes(term)) {
      shown.push(userId);
      continue;
    }
    const devices = await devicesOf(userId);
    if (devices.some((device) => device.device_id.toLowerCase().includes(term))) shown.push(userId);
  }
  const list = $("users");
  list.replaceChildren(
    ...shown.map((userId) => {
      const button = el("button", { type: "button", "aria-pressed": "false", "data-user": userId }, userId);
      button.addEventListener("click", () => selectUser(userId));
      return el("li", {}, button);
    }),
  );
  if (!shown.length) list.append(el("li", { className: "hint" }, term ? "No user or device matches." : "No users yet."));
  if (shown.length) await selectUser(shown[0]);
  else renderDevices([]);
}

async function selectUser(userId) {
  for (const button of $("users").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.user === userId));
  }
  state.user = userId;
  $("push-user").value = userId;
  $("call-user").value = userId;
  const devices = await devicesOf(userId);
  renderDevices(devices);
  const pushDevice = $("push-device");
  pushDevice.replaceChildren(el("option", { value: "" }, "every device of the type"));
  const check = $("check-device");
  check.replaceChildren();
  for (const id of new Set(devices.map((device) => device.device_id))) {
    pushDevice.append(el("option", { value: id }, id));
    check.append(el("option", { value: id }, id));
  }
}

function lastOutcome(device) {
  let last = null;
  for (const delivery of state.log.values()) {
    if (delivery.user_id === device.user_id && delivery.device_id === device.device_id && delivery.push_type === device.push_type) {
      if (!last || delivery.updated_at > last.updated_at) last = delivery;
    }
  }
  return last ? `${last.state}${last.reason ? ` (${last.reason})` : ""}` : "—";
}

function renderDevices(devices) {
  const body = $("devices").tBodies[0];
  body.replaceChildren(
    ...devices.map((device) =>
      el(
        "tr",
        {},
        el("td", {}, device.device_id),
        el("td", {}, device.user_id),
        el("td", {}, device.push_type),
        el("td", {}, el("code", {}, device.token)),
        el("td", {}, device.environment),
        el("td", {}, when(device.last_seen_at)),
        el("td", {}, lastOutcome(device)),
      ),
    ),
  );
}

// --- token check -------------------------------------------------------------------

async function checkToken(event) {
  event.preventDefault();
  const deviceId = $("check-device").value;
  const userId = $("push-user").value;
  const result = $("check-result");
  if (!deviceId || !state.app) return;
  result.textContent = "Checking…";
  try {
    const path = `/v1/apps/${encodeURIComponent(state.app.app_id)}/users/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}/check`;
    const checks = await api("POST", path);
    result.replaceChildren(...checks.map((check) => el("span", { className: check.valid ? "ok" : check.valid === false ? "error" : "" }, `${check.push_type}: ${check.verdict}`, el("br"))));
  } catch (failure) {
    result.textContent = `Check failed: ${failure.message}`;
  }
}

// --- test push ---------------------------------------------------------------------

function pushPayload() {
  const text = $("push-payload").value;
  try {
    const parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { error: "the payload must be a JSON object" };
    return { parsed, size: bytes(JSON.stringify(parsed)) };
  } catch (error) {
    return { error: `not JSON: ${error.message}` };
  }
}

/** What FCM counts against its 4096 bytes: the data's keys and values, UTF-8. */
function fcmDataSize(data) {
  return Object.entries(data).reduce((total, [key, value]) => total + bytes(key) + bytes(String(value)), 0);
}

function updatePushSize() {
  const limit = LIMITS.other;
  const fcm = $("push-type").value === "fcm";
  const payload = pushPayload();
  const size = $("push-size");
  const send = $("push-send");
  if (payload.error) {
    size.textContent = payload.error;
    size.className = "over";
    send.disabled = true;
    return;
  }
  const counted = fcm ? fcmDataSize(payload.parsed) : payload.size;
  size.textContent = `${counted} / ${limit} bytes${fcm ? " of data" : ""}`;
  const over = counted > limit;
  size.className = over ? "over" : "";
  if (over) size.textContent += fcm ? ": over FCM's limit, not sent" : ": over APNs's limit, not sent";
  send.disabled = over;
}

async function sendPush(event) {
  event.preventDefault();
  if (!state.app) return;
  const payload = pushPayload();
  if (payload.error || payload.size > LIMITS.other) return;
  const result = $("push-result");
  const body = {
    user_id: $("push-user").value.trim(),
    push_type: $("push-type").value,
    payload: payload.parsed,
  };
  const device = $("push-device").value;
  if (device) body.device_id = device;
  if ($("push-priority").value) body.priority = Number($("push-priority").value);
  const expiresIn = $("push-expiration").value;
  if (expiresIn !== "") body.expiration = Number(expiresIn) === 0 ? 0 : Math.floor(Date.now() / 1000) + Number(expiresIn);
  if ($("push-collapse").value) body.collapse_id = $("push-collapse").value;
  result.textContent = "Sending…";
  try {
    const sent = await api("POST", "/v1/pushes", { query: { app_id: state.app.app_id }, body });
    result.replaceChildren(deliveriesTable(sent.deliveries));
    for (const delivery of sent.deliveries) remember(delivery);
  } catch (failure) {
    result.replaceChildren(el("p", { className: "error" }, `${failure.status} ${failure.code}: ${failure.message}`));
  }
}

function explain(reason) {
  if (!reason) return null;
  const key = reason.split(/[;:]/)[0].trim();
  return state.reasons[key] || state.reasons[key.replace(/ /g, "_")] || null;
}

function reasonCell(delivery) {
  const cell = el("td", { className: "reason" });
  if (!delivery.reason) {
    cell.append(delivery.state === "delivered" ? "accepted by APNs" : "");
    return cell;
  }
  cell.append(el("code", {}, delivery.reason));
  const known = explain(delivery.reason);
  if (known) cell.append(el("small", {}, `${known.meaning}. ${known.did}`));
  return cell;
}

function deliveriesTable(deliveries) {
  return el(
    "table",
    { "aria-label": "Deliveries" },
    el("thead", {}, el("tr", {}, el("th", {}, "Device"), el("th", {}, "apns-id"), el("th", {}, "Outcome"), el("th", {}, "Reason"))),
    el(
      "tbody",
      {},
      ...deliveries.map((delivery) =>
        el(
          "tr",
          {},
          el("td", {}, delivery.device_id),
          el("td", {}, el("code", {}, delivery.apns_id)),
          el("td", { className: `state-${delivery.state}` }, `${delivery.state}${delivery.status ? ` (${delivery.status})` : ""}`),
          reasonCell(delivery),
        ),
      ),
    ),
  );
}

// --- test call ---------------------------------------------------------------------

function callData() {
  const text = $("call-data").value.trim() || "{}";
  try {
    const parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { error: "call data must be a JSON object" };
    return { parsed };
  } catch (error) {
    return { error: `not JSON: ${error.message}` };
  }
}

function voipSize(data) {
  // The VoIP payload ringpush builds (docs/payloads.md), with ids of their full length.
  const example = {
    aps: {},
    ringpush: {
      version: 1,
      type: "incoming-call",
      call_id: "00000000-0000-0000-0000-000000000000",
      caller: { id: $("call-caller").value, name: $("call-name").value },
      video: $("call-video").checked,
      sent_at: Date.now(),
      ring_until: Date.now(),
    },
  };
  if (Object.keys(data).length) example.data = data;
  return bytes(JSON.stringify(example));
}

function updateCallSize() {
  const data = callData();
  const size = $("call-size");
  const place = $("call-place");
  if (data.error) {
    size.textContent = data.error;
    size.className = "over";
    place.disabled = true;
    return;
  }
  const total = voipSize(data.parsed);
  const over = total > LIMITS.voip;
  size.textContent = `VoIP payload ${total} / ${LIMITS.voip} bytes${over ? ": over APNs's limit, not sent" : ""}`;
  size.className = over ? "over" : "";
  place.disabled = over || (state.call && state.call.state === "ringing");
}

async function placeCall(event) {
  event.preventDefault();
  if (!state.app) return;
  const data = callData();
  if (data.error || voipSize(data.parsed) > LIMITS.voip) return;
  const body = {
    caller_id: $("call-caller").value.trim(),
    caller_name: $("call-name").value,
    callee_user_id: $("call-user").value.trim(),
    video: $("call-video").checked,
  };
  if (Object.keys(data.parsed).length) body.data = data.parsed;
  $("call-state").textContent = "Placing the call…";
  try {
    state.call = await api("POST", "/v1/calls", { query: { app_id: state.app.app_id }, body });
  } catch (failure) {
    $("call-state").textContent = `${failure.status} ${failure.code}: ${failure.message}`;
    $("call-state").className = "error";
    return;
  }
  $("call-state").className = "";
  for (const delivery of state.call.deliveries) remember(delivery);
  renderCall();
}

function renderCall() {
  const call = state.call;
  if (!call) return;
  $("call-state").textContent = `Call ${call.call_id} to ${call.callee_user_id}: ${call.state}${call.end_reason ? ` (${call.end_reason})` : ""}`;
  $("call-end").disabled = call.state !== "ringing";
  $("call-place").disabled = call.state === "ringing";
  const rows = [...state.log.values()].filter((delivery) => delivery.call_id === call.call_id);
  $("call-deliveries").tBodies[0].replaceChildren(
    ...rows.map((delivery) =>
      el(
        "tr",
        {},
        el("td", {}, `${delivery.device_id} (${delivery.push_type})`),
        el("td", { className: `state-${delivery.state}` }, delivery.state),
        el("td", {}, delivery.status ? String(delivery.status) : ""),
        reasonCell(delivery),
      ),
    ),
  );
}

async function endCall() {
  if (!state.call) return;
  try {
    state.call = await api("POST", `/v1/calls/${encodeURIComponent(state.call.call_id)}/end`, {
      query: { app_id: state.app.app_id },
      body: { reason: "canceled" },
    });
  } catch (failure) {
    $("call-state").textContent = `${failure.status} ${failure.code}: ${failure.message}`;
    return;
  }
  renderCall();
  updateCallSize();
}

// --- delivery log ------------------------------------------------------------------

function remember(delivery) {
  const known = state.log.get(delivery.push_id);
  if (known && known.updated_at > delivery.updated_at) return;
  state.log.set(delivery.push_id, delivery);
  if (state.log.size > LOG_ROWS * 2) {
    const oldest = [...state.log.values()].sort((a, b) => (a.updated_at < b.updated_at ? -1 : 1));
    for (const old of oldest.slice(0, state.log.size - LOG_ROWS)) state.log.delete(old.push_id);
  }
  scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderLog();
    renderCall();
    if (state.user && state.devices.has(state.user)) renderDevices(state.devices.get(state.user));
  });
}

function matches(delivery) {
  const filters = [
    ["filter-app", delivery.app_id, true],
    ["filter-call", delivery.call_id || "", false],
    ["filter-user", delivery.user_id, false],
    ["filter-device", delivery.device_id, false],
    ["filter-state", delivery.state, true],
    ["filter-reason", delivery.reason || "", false],
  ];
  return filters.every(([id, value, exact]) => {
    const wanted = $(id).value.trim();
    if (!wanted) return true;
    return exact ? value === wanted : value.toLowerCase().includes(wanted.toLowerCase());
  });
}

function renderLog() {
  const rows = [...state.log.values()]
    .filter(matches)
    .sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))
    .slice(0, LOG_ROWS);
  $("log").tBodies[0].replaceChildren(
    ...rows.map((delivery) =>
      el(
        "tr",
        { "data-apns-id": delivery.apns_id },
        el("td", {}, when(delivery.updated_at)),
        el("td", {}, delivery.app_id),
        el("td", {}, `${delivery.user_id} / ${delivery.device_id}`),
        el("td", {}, delivery.push_type),
        el("td", {}, delivery.call_id || ""),
        el("td", { className: `state-${delivery.state}` }, `${delivery.state}${delivery.status ? ` (${delivery.status})` : ""}`),
        reasonCell(delivery),
      ),
    ),
  );
}

async function refreshLog() {
  if (!state.app) return;
  const rows = await api("GET", "/v1/deliveries", { query: { app_id: state.app.app_id, limit: LOG_ROWS } });
  for (const delivery of rows) remember(delivery);
}

async function followLog() {
  // EventSource cannot send an Authorization header: read the stream with fetch.
  const live = $("log-live");
  let delay = 500;
  for (;;) {
    state.stream = new AbortController();
    try {
      const response = await fetch("/v1/deliveries/events", {
        headers: { Authorization: `Bearer ${state.key}` },
        signal: state.stream.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      live.textContent = "live";
      delay = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const kind = /^event: (.*)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (kind && data && kind[1] === "delivery") remember(JSON.parse(data[1]));
          if (kind && data && kind[1] === "lost") live.textContent = `live (${JSON.parse(data[1]).count} missed)`;
        }
      }
    } catch (error) {
      if (state.stream.signal.aborted) return;
    }
    live.textContent = "reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

// --- wiring ------------------------------------------------------------------------

// Anything that failed without its own message says so, rather than silently.
window.addEventListener("unhandledrejection", (event) => {
  const problem = $("problem");
  problem.textContent = `Something failed: ${event.reason && event.reason.message ? event.reason.message : event.reason}`;
  problem.hidden = false;
});

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("operator-key").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("app").addEventListener("change", (event) => selectApp(event.target.value));
  $("search").addEventListener("input", () => renderUsers());
  $("check-form").addEventListener("submit", checkToken);
  $("push-type").addEventListener("change", () => {
    $("push-payload").value = JSON.stringify(SAMPLES[$("push-type").value], null, 2);
    updatePushSize();
  });
  $("push-payload").addEventListener("input", updatePushSize);
  $("push-form").addEventListener("submit", sendPush);
  for (const id of ["call-data", "call-caller", "call-name", "call-video"]) $(id).addEventListener("input", updateCallSize);
  $("call-form").addEventListener("submit", placeCall);
  $("call-end").addEventListener("click", endCall);
  $("log-filters").addEventListener("input", renderLog);
  $("log-filters").addEventListener("submit", (event) => event.preventDefault());
  $("push-payload").value = JSON.stringify(SAMPLES.alert, null, 2);
  updatePushSize();
  updateCallSize();
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) signIn(saved);
});
