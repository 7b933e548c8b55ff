# Sandbox image for smoke-testing and hosting search mechanisms.
# Built by scripts/build-image.sh from a prepared context (wheels/ + harness/), never from the repo root.
# No network is needed at build time: Python packages come from the host wheelhouse.
# BASE_IMAGE: the local debootstrap base, python:3.11-slim, or a CUDA runtime image with python3.11.
ARG BASE_IMAGE=bilevel-evolve-base:bookworm

FROM ${BASE_IMAGE} AS build
COPY wheels/ /wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-cache-dir --no-index --disable-pip-version-check \
      --find-links /wheels /wheels/*.whl \
 && /opt/venv/bin/python -m pip uninstall -y --disable-pip-version-check pip

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="bilevel-evolve-sandbox" \
      org.opencontainers.image.description="Python 3.11 + numpy + torch (CPU) + the mechanism smoke-test harness" \
      bilevel-evolve.image="sandbox"
# A fixed unprivileged user; the box runs every container as 10001:10001 regardless.
RUN echo 'sandbox:x:10001:10001:sandbox:/tmp:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'sandbox:x:10001:' >> /etc/group
COPY --from=build /opt/venv /opt/venv
# The in-container code (sandbox/image.py GUEST_PACKAGES, staged by build-image.sh) under its own
# package names; the box bind-mounts the host's current copy over it (read-only); the baked copy lets
# the image run a smoke test on its own (e.g. replay on another machine).
COPY harness/ /opt/harness/
COPY bilevel-evolve-harness.pth /opt/venv/lib/python3.11/site-packages/
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
CMD ["/opt/venv/bin/python", "-c", "import numpy, torch; print('sandbox ok')"]
