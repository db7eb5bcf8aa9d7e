# inboxbot as an unattended service: config on /config, the ledger on /state, the password in INBOXBOT_PASSWORD.
#   docker build -t inboxbot .
#   docker run -d -v ./config:/config:ro -v inboxbot-state:/state -e INBOXBOT_PASSWORD=... inboxbot
# In /config/config.toml set  [state] database = "/state/inboxbot.sqlite3".
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring

WORKDIR /src
COPY pyproject.toml README.md config.example.toml ./
COPY inboxbot ./inboxbot
COPY templates ./templates
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --create-home --uid 10001 inboxbot && mkdir -p /config /state && chown inboxbot /state
USER inboxbot
WORKDIR /home/inboxbot
VOLUME ["/config", "/state"]

# unhealthy when an account has had no successful pass for 3 intervals
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m \
  CMD ["inboxbot", "status", "--check", "--config", "/config/config.toml"]

ENTRYPOINT ["inboxbot"]
CMD ["run", "--config", "/config/config.toml"]
