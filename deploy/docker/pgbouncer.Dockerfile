# PgBouncer from Debian's package, for overlays/prod (deploy/k8s/README.md).
#   docker build -f deploy/docker/pgbouncer.Dockerfile -t mt-pgbouncer:dev deploy/docker
ARG MT_BASE_IMAGE=debian:12-slim
FROM ${MT_BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends pgbouncer ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && groupadd --system --gid 10002 pgbouncer \
 && useradd --system --uid 10002 --gid pgbouncer --no-create-home --shell /usr/sbin/nologin pgbouncer
USER 10002:10002
EXPOSE 6432
ENTRYPOINT ["/usr/sbin/pgbouncer"]
CMD ["/etc/pgbouncer/pgbouncer.ini"]
