# fetchpool in a small image: built with the release-lto profile, run as a non-root user
# on Debian slim with the CA certificates TLS needs.
#
#   docker build -t fetchpool:0.1.0 .
#   docker run --rm -v "$PWD:/work" -w /work fetchpool:0.1.0 urls.txt --workers 32
#
# Configure with flags or FETCHPOOL_* variables (docker run -e FETCHPOOL_WORKERS=32 ...).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY comparisons comparisons
COPY src src
COPY examples examples
COPY README.md ./
RUN cargo build --locked --profile release-lto --bin fetchpool \
 && cp target/release-lto/fetchpool /fetchpool

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fetchpool
COPY --from=build /fetchpool /usr/local/bin/fetchpool
USER 10001:10001
ENTRYPOINT ["fetchpool"]
CMD ["--help"]
