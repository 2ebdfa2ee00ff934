FROM busybox
CMD ["not", "closed"
CMD ['single', 'quotes']
ENTRYPOINT ["a", "b"]   
RUN [ "spaced" , "json" ]
CMD ["echo", "\u00e9\t"]
RUN [] 
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
