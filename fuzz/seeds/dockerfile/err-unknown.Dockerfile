FROM busybox
RUN true


# comment

RUNN echo typo
