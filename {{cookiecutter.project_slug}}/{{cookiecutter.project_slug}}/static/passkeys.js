// Passkeys: the browser's half of WebAuthn, for the buttons of templates/auth/_passkey_button.html.
// The server (auth/factors/passkeys.py) sends the options as JSON, with binary values in
// base64url; this turns them into the ArrayBuffers navigator.credentials wants, and the
// answer back into JSON. No library, nothing fetched from elsewhere: the CSP allows only us.
"use strict";

(function () {
  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: (json.excludeCredentials || []).map((c) =>
        Object.assign({}, c, { id: fromBase64url(c.id) })),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) =>
        Object.assign({}, c, { id: fromBase64url(c.id) })),
    });
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  async function post(url, csrf, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401 && data.next) window.location.assign(data.next);
    if (!response.ok) throw new Error(data.error || "The server refused the passkey.");
    return data;
  }

  let pending = null; // the autofill request waiting on the login page, to abort for a click

  async function run(button, mediation) {
    const status = button.parentElement.querySelector("[data-passkey-status]");
    const kind = button.dataset.passkey;
    status.textContent = "";
    if (pending) pending.abort();
    const abort = new AbortController();
    if (mediation === "conditional") pending = abort;
    try {
      const options = await post(button.dataset.options, button.dataset.csrf);
      let credential;
      if (kind === "register") {
        credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      } else {
        credential = await navigator.credentials.get({
          publicKey: requestOptions(options), mediation: mediation, signal: abort.signal,
        });
      }
      let url = button.dataset.verify;
      const name = document.querySelector("[data-passkey-name]");
      if (kind === "register" && name) {
        url += (url.includes("?") ? "&" : "?") + "name=" + encodeURIComponent(name.value);
      }
      const done = await post(url, button.dataset.csrf, credentialJSON(credential));
      window.location.assign(done.next);
    } catch (error) {
      if (error.name === "AbortError") return; // replaced by a click, or left the page
      status.textContent = error.name === "NotAllowedError"
        ? "The passkey was not used (cancelled or timed out)."
        : error.message;
    }
  }

  async function wire(root) {
    if (!window.PublicKeyCredential) return; // the buttons stay hidden
    for (const button of root.querySelectorAll("[data-passkey]")) {
      if (button.dataset.wired) continue;
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", () => run(button, "optional"));
      if ("conditional" in button.dataset && PublicKeyCredential.isConditionalMediationAvailable
          && await PublicKeyCredential.isConditionalMediationAvailable()) {
        run(button, "conditional"); // the username field's autofill offers the passkeys
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => wire(document));
  // A page htmx swapped in (a form sent back with its errors) runs no script of its own.
  document.addEventListener("htmx:load", (event) => wire(event.detail.elt));
})();
