// Starts Swagger UI on /api/docs. A file of its own, not an inline script, so the site's
// Content-Security-Policy can forbid inline scripts. Deferred, like the bundle before it: it
// runs once the page is parsed, without waiting for the page's other files.
{
  const root = document.getElementById("swagger-ui");
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
  // Swagger UI titles the API with an h1, and each group of operations (h3) and the schemas
  // (h4) below it: tell screen readers they are the level below the title, none skipped.
  const sections = "h3.opblock-tag:not([aria-level]), section.models > h4:not([aria-level])";
  new MutationObserver(() => {
    for (const heading of root.querySelectorAll(sections)) {
      heading.setAttribute("aria-level", "2");
    }
  }).observe(root, { childList: true, subtree: true });
}
