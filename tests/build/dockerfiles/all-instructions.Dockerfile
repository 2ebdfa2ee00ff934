# syntax=docker/dockerfile:1
# escape=\
ARG BASE=busybox
ARG VERSION
FROM --platform=$BUILDPLATFORM ${BASE}:latest AS Builder
MAINTAINER someone@example.com
LABEL org.opencontainers.image.title="berth test" version=1.0 \
      multi="a b"
LABEL legacy value with spaces
ENV A=1 B="two words" C=three\ words
ENV OLD old style value
ARG VERSION
ARG X=${A:-none} Y
WORKDIR /src
USER 1000:1000
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
EXPOSE 80 443/tcp 53/udp 8000-8010/tcp
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-ec"]
CMD ["sh", "-c", "echo hi"]
ENTRYPOINT /bin/entry --flag
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
ONBUILD RUN echo building child
ONBUILD COPY . /app
run echo lower case instruction
Run ["echo", "exec", "form"]
RUN echo continued \
    # a comment inside a continuation
    line \

    done

FROM scratch
HEALTHCHECK NONE
COPY --from=builder /src /out
CMD []
