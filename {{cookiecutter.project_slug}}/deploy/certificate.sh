#!/bin/sh
# A certificate from an ACME server (Let's Encrypt) for the site's names, which renews itself.
#   deploy/certificate.sh example.com [www.example.com ...]   (as root, with nginx serving the site)
# certbot proves each name through the running nginx: it writes the answer under the webroot,
# which the site serves on port 80 at /.well-known/acme-challenge/ (http-01), so nothing stops.
# The certificate is named {{ cookiecutter.project_slug }}, where the site reads it. Debian's certbot
# package renews it twice a day when 30 days are left (certbot.timer, or cron without systemd),
# with the settings saved here, and runs the deploy hook after each renewal: a reload, in
# which nginx's old workers finish their requests while new ones take the new certificate.
# A trial self-signed certificate in live/{{ cookiecutter.project_slug }}/ is moved aside first.
#
# Settings (environment variables):
#   ACME_SERVER  the ACME directory; Let's Encrypt's production one by default. Its staging
#                directory (untrusted certificates, generous rate limits) is for rehearsals:
#                https://acme-staging-v02.api.letsencrypt.org/directory
#   ACME_EMAIL   where Let's Encrypt sends expiry warnings (none if empty)
#   ACME_RELOAD  what makes nginx read the new certificate (systemctl reload nginx)
#   CERTBOT_DIR  certbot's folder, where the site reads live/ (/etc/letsencrypt)
#   ACME_WEBROOT the folder the site serves the checks from (/var/www/certbot)
set -eu

name={{ cookiecutter.project_slug }}
server=${ACME_SERVER:-https://acme-v02.api.letsencrypt.org/directory}
reload=${ACME_RELOAD:-systemctl reload nginx}
config=${CERTBOT_DIR:-/etc/letsencrypt}
webroot=${ACME_WEBROOT:-/var/www/certbot}

if [ $# -eq 0 ]; then
    echo "usage: $0 example.com [www.example.com ...]" >&2
    exit 2
fi
domains=""
for domain in "$@"; do
    domains="$domains -d $domain"
done
if [ -n "${ACME_EMAIL:-}" ]; then
    contact="--email $ACME_EMAIL"
else
    contact="--register-unsafely-without-email"
fi

mkdir -p "$webroot" "$config"
# certbot refuses a live/ folder it did not make; nginx keeps serving the trial certificate
# it has loaded until the reload below.
trial=""
if [ -e "$config/live/$name" ] && [ ! -e "$config/renewal/$name.conf" ]; then
    trial="$config/trial-$name.$(date +%s)"
    mv "$config/live/$name" "$trial"
fi

# A certificate from another ACME server (staging's, after a rehearsal) is replaced now, not
# kept until it is due for renewal.
force=""
if [ -e "$config/renewal/$name.conf" ] && ! grep -qxF "server = $server" "$config/renewal/$name.conf"; then
    force="--force-renewal"
fi

# certbot runs the deploy hook for this first certificate too, and saves it (with the server
# and the webroot) for `certbot renew`. $domains, $contact and $force are split into words.
# shellcheck disable=SC2086
if ! certbot certonly --non-interactive --agree-tos $contact \
    --server "$server" --config-dir "$config" \
    --webroot --webroot-path "$webroot" \
    --cert-name "$name" $domains \
    --deploy-hook "$reload" $force; then
    if [ -n "$trial" ]; then
        mv "$trial" "$config/live/$name"  # nginx still starts after a failed attempt
    fi
    exit 1
fi
echo "$name: certificate for$(echo "$domains" | sed 's/ -d / /g') in $config/live/$name/; renewals reload with: $reload"
