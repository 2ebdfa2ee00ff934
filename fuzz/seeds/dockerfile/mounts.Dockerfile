FROM busybox AS deps
RUN echo deps > /deps

FROM busybox
RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000 ls /root/.cache
RUN --mount=type=cache,target=/var/cache/apt,sharing=private,from=deps,source=/ true
RUN --mount=type=secret,id=token,target=/run/secrets/token,required=true cat /run/secrets/token
RUN --mount=type=secret,id=npm,env=NPM_TOKEN,required true
RUN --mount=type=bind,from=deps,source=/deps,target=/mnt/deps,rw cat /mnt/deps
RUN --mount=type=bind,target=/ctx ls /ctx
RUN --mount=type=tmpfs,target=/scratch,size=64m df /scratch
RUN --mount=type=ssh,id=default,target=/run/ssh.sock,required ssh -T git@example.com
RUN --mount=type=cache,target=$HOME/.cache echo expanded later
RUN --network=none --security=sandbox true
RUN --network=host wget example.com
RUN --security=insecure cat /proc/self/status
RUN --device=vendor.com/gpu=all,required nvidia-smi
