"""Authentication: tokens, admin login, partner API keys, and the callers they make."""

SECRET_KEY = "test-secret-key-" + "x" * 32
ADMIN_PASS = "correct horse battery staple"
PRODUCTION = {
    "app_env": "production",
    "secret_key": SECRET_KEY,
    "admin_pass": ADMIN_PASS,
    "allow_sandbox": True,
}
