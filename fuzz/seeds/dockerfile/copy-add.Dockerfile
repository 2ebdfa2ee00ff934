FROM alpine AS build
COPY a.txt b.txt /dst/
COPY ["with space.txt", "/dst/"]
COPY --chown=1000:1000 --chmod=0755 --link --parents --exclude=*.md --exclude=tmp src/ /app/
COPY --from=0 /etc/os-release /copied
COPY --from=nginx:alpine /etc/nginx/nginx.conf /nginx.conf
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/file.tar.gz /tmp/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.14 /buildkit
ADD --unpack=false --exclude=docs archive.tar.gz /opt/
ADD --chown=app --chmod=644 --link local.tar /x/
COPY <<EOF /etc/config
key=$VALUE
EOF
COPY <<-'NOEXPAND' <<TWO /heredocs/
	literal $VALUE
	NOEXPAND
second
TWO
