# Image for `caregate serve` and `caregate worker` (see compose.yaml).
FROM rust:1-bookworm AS build
# poppler's GLib interface is linked for PDF text (found by pkg-config).
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libpoppler-glib-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin caregate

# The state's design system the web pages use (npm @gouvfr/dsfr, Etalab 2.0), its
# published dist/ only (--ignore-scripts: its install script wants a DSFR project around
# it). Keep the version that of scripts/services.sh.
FROM node:20-bookworm-slim AS dsfr
ARG DSFR_VERSION=1.15.3
WORKDIR /dsfr
RUN echo '{"private": true}' > package.json && npm install --no-audit --no-fund --ignore-scripts "@gouvfr/dsfr@${DSFR_VERSION}"

FROM debian:bookworm-slim
# What reading evidence needs at run time: poppler's GLib library (linked), its tools
# (pages rendered for the console and OCR), Tesseract with its French model (scans and
# photos), ImageMagick to prepare photos for it (extract/src/ocr.rs).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libpoppler-glib8 poppler-utils \
        tesseract-ocr tesseract-ocr-fra imagemagick \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/caregate /usr/local/bin/caregate
COPY --from=dsfr /dsfr/node_modules/@gouvfr/dsfr/dist /usr/share/caregate/dsfr
RUN useradd --system --home /var/lib/caregate caregate && mkdir -p /var/lib/caregate && chown caregate /var/lib/caregate
USER caregate
WORKDIR /var/lib/caregate
ENV CAREGATE_BACKENDS__DATA_DIR=/var/lib/caregate/data
ENV CAREGATE_HTTP__DSFR_DIR=/usr/share/caregate/dsfr
EXPOSE 8080
CMD ["caregate", "serve"]
