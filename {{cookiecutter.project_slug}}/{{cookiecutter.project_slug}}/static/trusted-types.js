// Trusted Types: the site's CSP says `require-trusted-types-for 'script'; trusted-types
// default`, so the browser refuses a plain string at every DOM sink that parses HTML or loads
// script (innerHTML, insertAdjacentHTML, DOMParser, a script's src, eval...) unless this one
// policy, "default", lets it through. It lets through only the HTML htmx is about to swap in
// from a response of this site, as htmx hands it to the parser; everything else is refused
// and reported (a securitypolicyviolation event, and a line in the console). It makes no
// scripts or script URLs at all. Loaded before htmx, on every page (layout.html).
"use strict";

(function () {
  if (!window.trustedTypes || !trustedTypes.createPolicy) return; // the CSP alone then

  const responses = new Set(); // the bodies htmx received from this site, not yet parsed

  // What htmx 2's makeFragment passes to the parser for a response: its hx- tags as
  // templates, the whole page, the page without its <head>, or a fragment in a wrapper.
  // tests/test_frontend_browser.py fails if an upgrade of htmx parses anything else.
  function parsedForms(response) {
    const page = response
      .replace(/<hx-([a-z]+)((?:\s[^>]*)?)>/gi, '<template hx type="$1"$2>')
      .replace(/<\/hx-[a-z]+>/gi, "</template>");
    const body = page.replace(/<head(\s[^>]*)?>[\s\S]*?<\/head>/i, "");
    return [page, body, '<body><template class="internal-htmx-wrapper">' + body + "</template></body>"];
  }

  trustedTypes.createPolicy("default", {
    createHTML(html) {
      for (const response of responses) {
        if (parsedForms(response).includes(html)) {
          responses.delete(response);
          return html;
        }
      }
      return null; // refused: the sink throws, and the browser reports the violation
    },
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const { xhr, serverResponse } = event.detail;
    const from = xhr && xhr.responseURL ? new URL(xhr.responseURL).origin : null;
    if (from === window.location.origin && typeof serverResponse === "string") {
      responses.add(serverResponse);
      // One htmx does not swap (swap: false) stays, until newer ones push it out.
      if (responses.size > 8) responses.delete(responses.values().next().value);
    }
  });
})();
