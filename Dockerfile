# syntax=docker/dockerfile:1
# KappaCat: one image for every role (migrate, api, tiler, worker); the command picks the role.

# --- web: MapLibre GL JS and Swagger UI for the pages, installed from npm (never a CDN) ---
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY scripts/build-web.sh scripts/
COPY catalog_api/web/ catalog_api/web/
COPY tiler/web/ tiler/web/
RUN sh scripts/build-web.sh

# --- build: wheels for the project and its dependencies ---
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip wheel
COPY pyproject.toml README.md ./
COPY catalog/ catalog/
COPY kappacat/ kappacat/
COPY catalog_api/ catalog_api/
COPY ingest/ ingest/
COPY inference/ inference/
COPY tiler/ tiler/
COPY migrations/ migrations/
COPY --from=web /src/tiler/static/vendor/ tiler/static/vendor/
COPY --from=web /src/catalog_api/static/vendor/ catalog_api/static/vendor/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: no compilers, a non-root user ---
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system kappacat && useradd --system --gid kappacat --home /app kappacat \
    && mkdir -p /data && chown kappacat:kappacat /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# GDAL settings for reading COGs over HTTP/S3 the way titiler recommends.
ENV GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR \
    GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=YES \
    GDAL_HTTP_MULTIPLEX=YES \
    GDAL_HTTP_VERSION=2 \
    GDAL_CACHEMAX=200 \
    VSI_CACHE=TRUE \
    VSI_CACHE_SIZE=5000000 \
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif,.TIF,.tiff,.jp2,.xml,.json" \
    PYTHONUNBUFFERED=1
USER kappacat
WORKDIR /app
EXPOSE 8081 8082
HEALTHCHECK NONE
ENTRYPOINT ["kappacat"]
CMD ["--help"]
