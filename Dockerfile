# Image for `caregate serve` and `caregate worker` (see compose.yaml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin caregate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/caregate /usr/local/bin/caregate
RUN useradd --system --home /var/lib/caregate caregate && mkdir -p /var/lib/caregate && chown caregate /var/lib/caregate
USER caregate
WORKDIR /var/lib/caregate
ENV CAREGATE_BACKENDS__DATA_DIR=/var/lib/caregate/data
EXPOSE 8080
CMD ["caregate", "serve"]
