RUN echo no stage
FROM busybox
