# claimbridge: multi-stage build; the runtime image holds only the virtualenv, config and samples.
# The install steps are the Makefile's (`python -m venv` + `pip install` of this project); a test
# checks that the package built here carries its migrations and data files.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv && /opt/venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/python -m pip install --quiet .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 claimbridge
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/claimbridge
COPY config ./config
COPY examples ./examples
RUN mkdir -p var && chown -R claimbridge:claimbridge var
USER claimbridge
# Production by default: the container listens on every interface, so it refuses to start without a
# real CLAIMBRIDGE_API__ADMIN_TOKEN and CLAIMBRIDGE_SECURITY__SECRET_KEY (placeholders are refused).
ENV PATH=/opt/venv/bin:$PATH \
    CLAIMBRIDGE_ENV=production \
    CLAIMBRIDGE_API__HOST=0.0.0.0 \
    CLAIMBRIDGE_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["claimbridge", "serve"]
