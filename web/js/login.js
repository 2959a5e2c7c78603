// The login view: user name and password, checked by the MEM against the
// directory. The session cookie is HttpOnly; what the page keeps is the
// CSRF token the answer carries.

import { authRequest, HttpError } from "./jmap.js";
import { h, replace } from "./ui.js";

/**
 * Shows the login form in `root`; resolves with {username, csrfToken}
 * once a login succeeds.
 */
export function showLogin(root, { notice } = {}) {
  return new Promise((resolve) => {
    const error = h("p", { class: "login-error", role: "alert", hidden: !notice }, notice || "");
    const user = h("input", {
      id: "login-user", name: "username", type: "text", autocomplete: "username",
      autocapitalize: "none", spellcheck: "false", required: true, autofocus: true,
      placeholder: "you@example.test",
    });
    const pass = h("input", {
      id: "login-password", name: "password", type: "password",
      autocomplete: "current-password", required: true,
    });
    const submit = h("button", { class: "button primary wide", type: "submit", id: "login-submit" }, "Sign in");
    let countdown = null;

    const fail = (message) => {
      error.textContent = message;
      error.hidden = false;
      root.querySelector(".login-card")?.classList.remove("shake");
      void root.offsetWidth;
      root.querySelector(".login-card")?.classList.add("shake");
    };

    const form = h("form", {
      class: "login-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        if (countdown) return;
        submit.disabled = true;
        submit.textContent = "Signing in…";
        try {
          const who = await authRequest("/auth/login", {
            method: "POST",
            body: { username: user.value.trim(), password: pass.value },
          });
          pass.value = "";
          resolve(who);
        } catch (e) {
          if (e instanceof HttpError && e.status === 429) {
            lockFor(e);
          } else if (e instanceof HttpError) {
            fail(e.message);
            pass.select();
          } else {
            fail("The server cannot be reached. Check your connection and try again.");
          }
        } finally {
          if (!countdown) {
            submit.disabled = false;
            submit.textContent = "Sign in";
          }
        }
      },
    },
      h("label", { for: "login-user" }, "Email or user name"),
      user,
      h("label", { for: "login-password" }, "Password"),
      pass,
      error,
      submit,
    );

    function lockFor(e) {
      const m = /(\d+) seconds/.exec(e.message);
      let left = m ? Number(m[1]) : 60;
      submit.disabled = true;
      const tick = () => {
        if (left <= 0) {
          clearInterval(countdown);
          countdown = null;
          submit.disabled = false;
          submit.textContent = "Sign in";
          error.hidden = true;
          return;
        }
        error.textContent = `Too many failed logins. Try again in ${left} s.`;
        error.hidden = false;
        submit.textContent = `Wait ${left} s`;
        left -= 1;
      };
      tick();
      countdown = setInterval(tick, 1000);
    }

    replace(root,
      h("div", { class: "login-card" },
        h("div", { class: "login-brand" },
          h("img", { src: "/favicon.svg", alt: "", width: 48, height: 48 }),
          h("h1", {}, "Tiermail"),
        ),
        h("p", { class: "login-sub" }, "Sign in to read your mail"),
        form,
      ),
      h("p", { class: "login-foot" }, "Your session ends when you log out or after a while without use."),
    );
    root.hidden = false;
    user.focus();
  });
}
