// Starts Swagger UI on /api/docs when the reader asks for it, or follows a link to one of its
// operations (#/tag/operation). A file of its own, not an inline script, so the site's
// Content-Security-Policy can forbid inline scripts.
{
  const root = document.getElementById("swagger-ui");
  const button = document.getElementById("open-swagger-ui");

  const start = () => {
    window.ui = SwaggerUIBundle({
      url: root.dataset.specUrl,
      domNode: root,
      deepLinking: true,
      validatorUrl: null, // the default asks an outside validator service for a badge
      requestInterceptor: (request) => {
        request.headers["X-CSRFToken"] = root.dataset.csrfToken;
        return request;
      },
    });
    // Swagger UI titles the API with an h1, and each group of operations (h3) and the
    // schemas (h4) below it: tell screen readers they are the level below the title.
    const sections = "h3.opblock-tag:not([aria-level]), section.models > h4:not([aria-level])";
    // Each operation's summary is a button holding a link to the operation (a control inside
    // a control, which screen readers cannot reach): the button alone stays, and it puts the
    // same link in the address bar when it opens the operation (deepLinking). The link left
    // without its href is only its text: role "none" says so to crawlers too.
    const nested = ".opblock-summary-control a[href]";
    new MutationObserver(() => {
      for (const heading of root.querySelectorAll(sections)) {
        heading.setAttribute("aria-level", "2");
      }
      for (const link of root.querySelectorAll(nested)) {
        link.removeAttribute("href");
        link.setAttribute("role", "none");
      }
      // The API's title and description sit outside Swagger UI's <main>: a region of its own.
      for (const about of root.querySelectorAll(".information-container:not([role])")) {
        about.setAttribute("role", "region");
        about.setAttribute("aria-label", "About the API");
      }
    }).observe(root, { childList: true, subtree: true });
  };

  const open = () => {
    root.classList.add("opened");
    button.disabled = true;
    button.textContent = "Loading Swagger UI…";
    const stylesheet = document.createElement("link");
    stylesheet.rel = "stylesheet";
    stylesheet.href = root.dataset.stylesheetUrl;
    const script = document.createElement("script");
    script.src = root.dataset.bundleUrl;
    script.addEventListener("load", start);
    // Before docs.css, whose fixes of Swagger UI's colours must come after it.
    document.querySelector('link[rel="stylesheet"]').before(stylesheet);
    document.head.append(script);
  };

  button.addEventListener("click", open);
  if (window.location.hash.startsWith("#/")) {
    open();
  }
}
