// REST calls with the console's session: the CSRF token comes from the page (or its cookie).

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Signing out: the form's own answer takes the page to the sign-in page. A request or the
// socket that finds the session gone meanwhile must not send the page there a second time,
// which cancels the first navigation halfway.
let signingOut = false;
document.addEventListener(
  "submit",
  (event) => {
    if (event.target instanceof HTMLFormElement && event.target.matches("form.logout")) signingOut = true;
  },
  true,
);

/** The session has ended (signed out elsewhere, expired): back to the sign-in page, once. The
 * requests in flight when it ended are refused together (the list, the unread count, the
 * socket); a second navigation would cancel the first halfway. */
export function toSignIn() {
  if (signingOut) return;
  signingOut = true;
  location.href = "/console/login/?next=/console/";
}

/** `form` (a FormData: files) is sent as multipart/form-data instead of a JSON `body`. */
export async function api(path, { method = "GET", body, query, form } = {}) {
  let url = "/api/v1/" + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== null && value !== undefined && value !== "") params.set(key, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: form || (body === undefined ? undefined : JSON.stringify(body)),
  });
  if (response.status === 401) {
    toSignIn();
    throw new ApiError(401, "not_authenticated", "signed out");
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 403 && error.code === "not_authenticated") {
      toSignIn();
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText, data);
  }
  return data;
}
