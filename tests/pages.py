"""Every page of a default bake, as a visitor or the logged-in administrator sees it: what the
accessibility test, the screenshots and Lighthouse (benchmarks/) go through."""

ADMIN, PASSWORD = "root", "correct horse battery"
ACCOUNTS = ["ada", "grace", "linus", "margaret"]  # ada is account 2

# (path, who sees it): None is a visitor, "admin" the logged-in administrator, "second step"
# the administrator between the password and the second factor, "ada" an account without a
# second factor (logged in with the password alone).
PAGES = [
    ("/", None),
    ("/auth/login", None),
    ("/auth/register", None),
    ("/auth/forgot-password", None),
    ("/hello/Flask", None),
    ("/no/such/page", None),  # the 404 page
    ("/auth/logout", None),  # GET on a POST-only URL: the 405 page
    ("/api/docs", None),
    ("/api/docs#/users", None),  # Swagger UI, opened at once by the link
    ("/", "admin"),
    ("/users/1", "admin"),
    ("/auth/account", "admin"),
    ("/auth/change-password", "admin"),
    ("/auth/change-email", "admin"),
    ("/auth/delete-account", "admin"),
    ("/auth/confirm", "admin"),  # the fresh check before sensitive actions
    ("/admin/users", "admin"),
    ("/admin/users?q=zzz", "admin"),  # nothing found
    ("/admin/users/2", "admin"),
    ("/admin/users/2/delete", "admin"),
    ("/admin/audit", "admin"),
    ("/auth/second-factor", "second step"),  # a code, a recovery code or a passkey
    ("/auth/totp", "ada"),  # enrolment of an authenticator app: its QR code and key
]
# One page of each kind above: public, an error status, Swagger UI opened, logged in.
QUICK_PAGES = [("/", None), ("/no/such/page", None), ("/api/docs#/users", None), ("/", "admin")]


def make_users(flask):
    """The administrator and the other accounts, with `flask` running the baked CLI."""
    for name in [ADMIN, *ACCOUNTS]:
        options = ["--admin"] if name == ADMIN else []
        made = flask("create-user", name, f"{name}@example.com", "--password", PASSWORD, *options)
        assert made.returncode == 0, made.stderr


# The pages above that answer with an error status, on purpose.
ERROR_PAGES = {"/no/such/page": 404, "/auth/logout": 405}
