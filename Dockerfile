# robbie in a container: the single binary on a Debian base, as a non-root user.
#   npm run build && docker build -t robbie .
#   docker run -d --name robbie -p 8000:8000 -v robbie-state:/var/lib/robbie \
#     -e ROBBIE_API_KEYS=... -e ROBBIE_ADMIN_KEY=... robbie
# The binary needs glibc (it is Node 24 inside), hence Debian slim rather than Alpine or scratch.
FROM debian:bookworm-slim

RUN groupadd --system --gid 10001 robbie \
 && useradd --system --uid 10001 --gid robbie --home-dir /var/lib/robbie --create-home --shell /usr/sbin/nologin robbie

COPY dist/robbie /usr/local/bin/robbie

# State (the SQLite store, the outbox, logs) lives in the volume; HOST binds every interface of the
# container (the port is published by `-p`).
ENV ROBBIE_HOME=/var/lib/robbie \
    HOST=0.0.0.0 \
    PORT=8000
VOLUME ["/var/lib/robbie"]
USER robbie:robbie
WORKDIR /var/lib/robbie
EXPOSE 8000

# `robbie supervise` as PID 1: it drains its children on SIGTERM (within ROBBIE_SHUTDOWN_TIMEOUT,
# 10 s by default, so give `docker stop -t 15`) and exits 0. `robbie health` asks the API on
# 127.0.0.1:$PORT and exits non-zero unless it serves (healthy, or degraded with a dependency down).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["robbie", "health"]
ENTRYPOINT ["robbie"]
CMD ["supervise"]
