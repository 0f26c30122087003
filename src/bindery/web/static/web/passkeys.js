// Passkeys: the browser half of the WebAuthn ceremonies. The server sends options as JSON
// (binary fields in base64url); this turns them into ArrayBuffers, asks the authenticator, and
// posts the answer back with the page's CSRF token. No inline script: the CSP allows only 'self'.
"use strict";

function b64urlToBuffer(value) {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  const bytes = atob(padded);
  return Uint8Array.from(bytes, (c) => c.charCodeAt(0)).buffer;
}

function bufferToB64url(buffer) {
  let text = "";
  new Uint8Array(buffer).forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) { throw new Error(data.detail || `the server answered ${response.status}`); }
  return data;
}

function credentialJson(credential) {
  const r = credential.response;
  const out = {id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type,
               clientExtensionResults: credential.getClientExtensionResults(), response: {}};
  for (const key of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (r[key]) { out.response[key] = bufferToB64url(r[key]); }
  }
  if (r.getTransports) { out.response.transports = r.getTransports(); }
  return out;
}

function showError(button, error) {
  const target = document.getElementById(button.dataset.errors);
  if (target) { target.textContent = `Passkey: ${error.message}`; target.hidden = false; }
}

async function register(button) {
  const options = await postJson(button.dataset.options);
  options.challenge = b64urlToBuffer(options.challenge);
  options.user.id = b64urlToBuffer(options.user.id);
  (options.excludeCredentials || []).forEach((c) => { c.id = b64urlToBuffer(c.id); });
  const credential = await navigator.credentials.create({publicKey: options});
  const name = document.getElementById(button.dataset.name);
  await postJson(button.dataset.finish, {credential: credentialJson(credential), name: name ? name.value : ""});
  window.location.reload();
}

async function signIn(button) {
  const options = await postJson(button.dataset.options);
  options.challenge = b64urlToBuffer(options.challenge);
  (options.allowCredentials || []).forEach((c) => { c.id = b64urlToBuffer(c.id); });
  const credential = await navigator.credentials.get({publicKey: options});
  const done = await postJson(button.dataset.finish, {credential: credentialJson(credential)});
  window.location.assign(done.redirect);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-passkey]");
  if (!button) { return; }
  event.preventDefault();
  const run = button.dataset.passkey === "register" ? register : signIn;
  run(button).catch((error) => showError(button, error));
});
