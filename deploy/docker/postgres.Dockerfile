# A PostgreSQL 15 stand-in for the official postgres:15 image, built from
# Debian's postgresql-15 package, for machines that reach no image registry
# (make compose-test). It honours what docker-compose.yml uses of the official
# image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, the data folder
# /var/lib/postgresql/data, port 5432 and pg_isready.
#   podman build -f deploy/docker/postgres.Dockerfile --build-arg MT_BASE_IMAGE=... -t mt-postgres:15 deploy/docker
ARG MT_BASE_IMAGE=debian:12-slim
FROM ${MT_BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
